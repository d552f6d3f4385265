"""What the train stage reads from params.yaml: ``seed``, ``model`` and ``train``."""

from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, StringConstraints

from mnist_pipeline.params import Section, Seed, StageParams

DEVICE = r"^(/?(device:)?)?(CPU|GPU|cpu|gpu):\d+$"  # GPU:0, /gpu:1, /device:CPU:0


class AugmentParams(Section):
    """Random distortions of training images (Keras layers that are idle at inference)."""

    rotation_degrees: Annotated[StrictFloat, Field(ge=0, le=45)]
    translation: Annotated[StrictFloat, Field(ge=0, le=0.3)]  # fraction of the image side
    zoom: Annotated[StrictFloat, Field(ge=0, le=0.3)]  # fraction, in and out
    stroke_width: Annotated[StrictFloat, Field(ge=0, le=1)]  # share of images made thicker/thinner


class ModelParams(Section):
    arch: Literal["basic", "deep", "bn_dropout", "fast", "best"]
    dropout: Annotated[StrictFloat, Field(ge=0, lt=1)]
    batch_norm: StrictBool  # for the architectures built with it: bn_dropout, fast, best
    augment: AugmentParams


class EarlyStoppingParams(Section):
    patience: Annotated[StrictInt, Field(ge=0)]  # epochs without a better val_loss; 0 is off
    restore_best: StrictBool  # end with the weights of the best validation epoch


class TrainParams(Section):
    epochs: Annotated[StrictInt, Field(ge=1, le=1000)]
    batch_size: Annotated[StrictInt, Field(ge=1, le=65536)]
    # Above 10 every optimizer here diverges at once: refused before TensorFlow loads.
    learning_rate: Annotated[StrictFloat, Field(gt=0, le=10)]
    optimizer: Literal["adam", "adamw", "sgd"]
    schedule: Literal["constant", "cosine", "warmup_cosine"]
    warmup_epochs: Annotated[StrictFloat, Field(ge=0, le=1000)]  # for warmup_cosine
    label_smoothing: Annotated[StrictFloat, Field(ge=0, lt=1)]
    early_stopping: EarlyStoppingParams
    mixed_precision: StrictBool  # bfloat16 compute, float32 weights
    # auto: every visible GPU when there are two or more, else the one device;
    # multi_worker: one replica per machine of the cluster in TF_CONFIG (see cluster.py).
    distribute: Literal["auto", "none", "mirrored", "multi_worker"]
    devices: tuple[Annotated[StrictStr, StringConstraints(pattern=DEVICE)], ...]  # for mirrored


class TrainStageParams(StageParams):
    seed: Seed
    model: ModelParams
    train: TrainParams
