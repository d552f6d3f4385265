"""What a benchmark's training run reads: the sections of preprocess and train together.

The benchmarks make the splits and train in one process, as the preprocess and
train stages do one after the other, from params.yaml with `-S`-style overrides.
"""

import tempfile
from collections.abc import Sequence
from pathlib import Path

import yaml

from mnist_pipeline.dataset import RawData, Split
from mnist_pipeline.evaluation import summary_metrics
from mnist_pipeline.params import load_params
from mnist_pipeline.params.preprocess import PreprocessStageParams
from mnist_pipeline.params.train import TrainStageParams
from mnist_pipeline.preprocess import make_splits

CONFIGS = Path(__file__).parent / "configs.yaml"


def configurations() -> dict[str, list[str]]:
    """Each measured configuration of bench/configs.yaml: its name, and its `-S` overrides."""
    return yaml.safe_load(CONFIGS.read_text())


class ExperimentParams(PreprocessStageParams, TrainStageParams):
    """seed, preprocess, model and train."""


def load_experiment(path: str | Path, overrides: list[str]) -> ExperimentParams:
    return load_params(path, ExperimentParams, overrides)


def train_experiment(raw: RawData, params: ExperimentParams, callbacks: Sequence = ()):
    """Split and train as the preprocess and train stages do: the model, and the test split."""
    # Imported here: TensorFlow loads only for benchmarks that train.
    from mnist_pipeline.training import train_model

    preprocess = params.preprocess
    splits = make_splits(raw, preprocess.val_fraction, params.seed, preprocess.train_subset)
    with tempfile.TemporaryDirectory() as live_dir:
        model = train_model(params, splits["train"], splits["val"], Path(live_dir), callbacks)
    return model, splits["test"]


def test_accuracy(model, test: Split) -> float:
    probabilities = model.predict(test.x, batch_size=1000, verbose=0)
    return summary_metrics(test.y, probabilities)["accuracy"]
