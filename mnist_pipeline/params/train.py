"""What the train stage reads from params.yaml: ``seed``, ``model`` and ``train``.

A key that cannot act is not there: ``model.batch_norm`` belongs to the
architectures built with batch normalisation, ``train.warmup_epochs`` to the
``warmup_cosine`` schedule, ``train.devices`` to ``mirrored``. Setting one
where it does nothing is refused, so it can never retrain a model for nothing.
"""

from typing import Annotated, Literal

from pydantic import (
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from mnist_pipeline.params import Section, Seed, StageParams, inapplicable

DEVICE = r"^(/?(device:)?)?(CPU|GPU|cpu|gpu):\d+$"  # GPU:0, /gpu:1, /device:CPU:0


class AugmentParams(Section):
    """Random distortions of training images (Keras layers that are idle at inference)."""

    rotation_degrees: Annotated[StrictFloat, Field(ge=0, le=45)]
    translation: Annotated[StrictFloat, Field(ge=0, le=0.3)]  # fraction of the image side
    zoom: Annotated[StrictFloat, Field(ge=0, le=0.3)]  # fraction, in and out
    stroke_width: Annotated[StrictFloat, Field(ge=0, le=1)]  # share of images made thicker/thinner


class _Network(Section):
    dropout: Annotated[StrictFloat, Field(ge=0, lt=1)]
    augment: AugmentParams


class PlainModel(_Network):
    """The architectures of plain conv + ReLU layers: nothing to normalise."""

    arch: Literal["basic", "deep"]


class NormalisedModel(_Network):
    """The architectures built of conv blocks, which batch normalisation can join."""

    arch: Literal["bn_dropout", "fast", "best"]
    batch_norm: StrictBool


# Each architecture's keys, chosen by ``arch`` (models.ARCHITECTURES holds the builders).
ModelParams = Annotated[PlainModel | NormalisedModel, Field(discriminator="arch")]


def model_params(section: dict) -> PlainModel | NormalisedModel:
    """The ``model`` section validated on its own (tests build networks so)."""
    return TypeAdapter(ModelParams).validate_python(section)


class TrainParams(Section):
    epochs: Annotated[StrictInt, Field(ge=1, le=1000)]
    batch_size: Annotated[StrictInt, Field(ge=1, le=65536)]
    # Above 10 every optimizer here diverges at once: refused before TensorFlow loads.
    learning_rate: Annotated[StrictFloat, Field(gt=0, le=10)]
    optimizer: Literal["adam", "adamw", "sgd"]
    schedule: Literal["constant", "cosine", "warmup_cosine"]
    warmup_epochs: Annotated[StrictFloat, Field(ge=0, le=1000)] | None = None  # warmup_cosine's
    label_smoothing: Annotated[StrictFloat, Field(ge=0, lt=1)]
    # The optimizer keeps a moving average of the weights, which the model ends with; 0 is off.
    ema_momentum: Annotated[StrictFloat, Field(ge=0, lt=1)]
    # Epochs without a better val_loss before training stops and takes the best epoch's
    # weights back; 0 is off.
    early_stopping_patience: Annotated[StrictInt, Field(ge=0)]
    mixed_precision: StrictBool  # bfloat16 compute, float32 weights
    # auto: every visible GPU when there are two or more, else the one device;
    # multi_worker: one replica per machine of the cluster in TF_CONFIG (see cluster.py).
    distribute: Literal["auto", "none", "mirrored", "multi_worker"]
    devices: tuple[Annotated[StrictStr, StringConstraints(pattern=DEVICE)], ...]  # for mirrored

    @model_validator(mode="after")
    def _only_keys_that_act(self) -> "TrainParams":
        warmup = self.schedule == "warmup_cosine"
        if warmup and self.warmup_epochs is None:
            raise inapplicable(
                "train.schedule warmup_cosine needs train.warmup_epochs "
                "(dvc exp run -S train.schedule=warmup_cosine -S +train.warmup_epochs=1)"
            )
        if not warmup and self.warmup_epochs is not None:
            raise inapplicable(
                f"train.warmup_epochs does nothing with train.schedule {self.schedule}: "
                "remove it (dvc exp run -S '~train.warmup_epochs'), or use warmup_cosine"
            )
        if self.devices and self.distribute != "mirrored":
            raise inapplicable(
                f"train.devices does nothing with train.distribute {self.distribute}: "
                "set it to [] or use distribute mirrored"
            )
        if self.ema_momentum and self.early_stopping_patience:
            # Early stopping's best epoch replaces the averaged weights when training ends.
            raise inapplicable(
                "train.ema_momentum does nothing with train.early_stopping_patience "
                f"{self.early_stopping_patience}: set one of them to 0"
            )
        return self


class TrainStageParams(StageParams):
    seed: Seed
    model: ModelParams
    train: TrainParams
