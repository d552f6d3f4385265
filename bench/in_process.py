"""For the benchmarks that time training inside their own process: the race against
the Keras example, determinism across machines, distribution.

Their params are composed from conf/ with Hydra overrides, exactly as
`dvc exp run -S model=fast -S seed=1` composes them, and they split and train
with the preprocess and train stages' own functions. Results of record go
through `dvc exp run` itself: bench/results_table.py.
"""

import tempfile
from collections.abc import Sequence
from pathlib import Path

from mnist_pipeline.dataset import RawData, Split
from mnist_pipeline.evaluation import summary_metrics
from mnist_pipeline.params import load_params
from mnist_pipeline.params.compose import compose
from mnist_pipeline.params.preprocess import PreprocessStageParams
from mnist_pipeline.params.train import TrainStageParams
from mnist_pipeline.preprocess import make_splits

REPO = Path(__file__).resolve().parent.parent


class ExperimentParams(PreprocessStageParams, TrainStageParams):
    """seed, preprocess, model and train."""


def composed_params(overrides: Sequence[str]) -> ExperimentParams:
    """conf/ composed with ``overrides`` (``model=fast``, ``train.epochs=3``), validated."""
    with tempfile.TemporaryDirectory() as scratch:
        params = Path(scratch) / "params.yaml"
        params.write_text(compose(REPO, overrides), encoding="utf-8")
        return load_params(params, ExperimentParams)


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
