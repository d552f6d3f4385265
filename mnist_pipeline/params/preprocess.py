"""What the preprocess stage reads from params.yaml: ``seed`` and ``preprocess``."""

from typing import Annotated

from pydantic import Field, StrictFloat, StrictInt

from mnist_pipeline.params import Section, Seed, StageParams


class PreprocessParams(Section):
    val_fraction: Annotated[StrictFloat, Field(gt=0, lt=1)]
    # A stratified subset of the training images, for quick runs; null keeps them all.
    train_subset: Annotated[StrictInt, Field(ge=100)] | None


class PreprocessStageParams(StageParams):
    seed: Seed
    preprocess: PreprocessParams
