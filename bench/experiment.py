"""What a benchmark's training run reads: the sections of preprocess and train together.

The benchmarks make the splits and train in one process, as the preprocess and
train stages do one after the other, from params.yaml with `-S`-style overrides.
"""

from pathlib import Path

from mnist_pipeline.params import load_params
from mnist_pipeline.params.preprocess import PreprocessStageParams
from mnist_pipeline.params.train import TrainStageParams


class ExperimentParams(PreprocessStageParams, TrainStageParams):
    """seed, preprocess, model and train."""


def load_experiment(path: str | Path, overrides: list[str]) -> ExperimentParams:
    return load_params(path, ExperimentParams, overrides)
