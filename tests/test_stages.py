"""Each stage's main() on tiny real digits in tmp_path, checking what it writes."""

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mnist_pipeline.classifier import KerasClassifier, OnnxClassifier
from mnist_pipeline.dataset import RawData, Split, split_path
from mnist_pipeline.gallery import load_gallery
from mnist_pipeline.models import ARCHITECTURES
from stages import train
from tests.conftest import Workspace, tiny_model, tiny_params, write_params
from tests.dvc_project import STAGES

pytestmark = pytest.mark.slow  # trains models or starts processes that load TensorFlow


@pytest.fixture(scope="module")
def run(tmp_path_factory, sources_file) -> Workspace:
    """The default pipeline's stages in dvc.yaml's order, each run as dvc repro runs it."""
    paths = Workspace(tmp_path_factory.mktemp("pipeline"), sources=sources_file)
    write_params(paths.params, tiny_params(preprocess={"val_fraction": 0.2}))
    for stage in STAGES:
        importlib.import_module(f"stages.{stage}").main(paths.arguments(stage))
    return paths


def test_download_writes_the_checked_arrays(run, tiny_mnist):
    raw = RawData.load(run.raw)
    np.testing.assert_array_equal(raw.x_test, tiny_mnist.x_test)
    assert raw.x_train.dtype == np.uint8 and raw.x_train.shape[1:] == (28, 28)


def test_preprocess_splits_uint8_pixels_and_keeps_the_test_set_apart(run, tiny_mnist):
    splits = {
        name: Split.load(split_path(run.processed, name)) for name in ("train", "val", "test")
    }
    for split in splits.values():
        assert split.x.dtype == np.uint8 and split.x.shape[1:] == (28, 28)
    assert len(splits["train"].y) + len(splits["val"].y) == len(tiny_mnist.y_train)
    assert len(splits["val"].y) == pytest.approx(0.2 * len(tiny_mnist.y_train), abs=1)
    np.testing.assert_array_equal(splits["test"].y, tiny_mnist.y_test)
    np.testing.assert_array_equal(splits["test"].x, tiny_mnist.x_test)
    assert sorted(path.name for path in run.processed.iterdir()) == [
        "test.npz",
        "train.npz",
        "val.npz",
    ]


def test_train_writes_a_keras_model_and_per_epoch_curves(run):
    assert run.model.stat().st_size > 100_000
    for split in ("train", "val"):
        for measure in ("accuracy", "loss"):
            history = pd.read_csv(run.training / f"plots/metrics/{split}/{measure}.tsv", sep="\t")
            assert list(history.columns) == ["step", measure]
            assert len(history) == 1  # one epoch
    # Curves only: dvclive's summary would be a second, differently keyed metrics file.
    assert sorted(path.name for path in run.training.iterdir()) == ["plots"]
    assert not list(run.model.parent.glob(".*"))  # no temporary left behind


def test_evaluate_writes_metrics_predictions_and_gallery(run, tiny_mnist):
    scores = json.loads(run.evaluate_metrics.read_text())
    assert scores.keys() == {"test", "val"}
    assert scores["test"].keys() == scores["val"].keys() == {"accuracy", "loss"}
    metrics = scores["test"]
    assert metrics["accuracy"] > 0.5  # one epoch on 1500 real digits is far above chance
    per_class = json.loads(run.per_class.read_text())
    assert sum(row["support"] for row in per_class) == len(tiny_mnist.y_test)
    predictions = pd.read_csv(run.predictions)
    assert list(predictions.columns) == ["actual", "predicted"]
    assert (predictions["actual"] == predictions["predicted"]).mean() == pytest.approx(
        metrics["accuracy"], abs=1e-6
    )
    shown = load_gallery(run.gallery)
    assert (shown["mistakes"].predicted != shown["mistakes"].labels).all()
    assert (np.diff(shown["mistakes"].confidence) <= 0).all()


def test_report_renders_every_image_and_the_markdown(run):
    names = sorted(path.name for path in run.report.iterdir())
    assert names == [
        "confusion_matrix.png",
        "misclassified.png",
        "report.md",
        "sample_predictions.png",
        "training_curves.png",
    ]
    for name in (n for n in names if n.endswith(".png")):
        with Image.open(run.report / name) as image:
            assert image.width > 300 and image.height > 200
    text = (run.report / "report.md").read_text()
    accuracy = json.loads(run.evaluate_metrics.read_text())["test"]["accuracy"]
    assert f"Test accuracy **{accuracy:.4f}**" in text
    assert "| 9 |" in text and "![Confusion matrix](confusion_matrix.png)" in text


def test_export_writes_an_onnx_model_that_agrees_with_keras_on_every_test_digit(run, tiny_mnist):
    assert json.loads(run.parity.read_text()) == {"test": {"onnx_agreement": 1.0}}
    onnx_probabilities = OnnxClassifier(run.onnx).probabilities(tiny_mnist.x_test)
    keras_probabilities = KerasClassifier(run.model).probabilities(tiny_mnist.x_test)
    np.testing.assert_allclose(onnx_probabilities, keras_probabilities, atol=1e-4)


def train_again(run: Workspace, folder: Path, params: dict) -> Workspace:
    """The train stage on the run's processed data, with other params, writing under ``folder``."""
    again = Workspace(folder)
    again.processed = run.processed
    write_params(again.params, params)
    train.main(again.arguments("train"))
    return again


# Every registered architecture but the one the `run` fixture trained already.
@pytest.mark.parametrize("arch", sorted(set(ARCHITECTURES) - {tiny_params()["model"]["arch"]}))
def test_every_architecture_trains_through_the_stage(run, tmp_path, arch):
    params = tiny_params(model=tiny_model(arch=arch, dropout=0.1))
    assert train_again(run, tmp_path, params).model.stat().st_size > 10_000


def test_early_stopping_mixed_precision_and_smoothing_work_together(run, tmp_path):
    knobs = {
        "epochs": 30,
        "learning_rate": 0.05,
        "mixed_precision": True,
        "label_smoothing": 0.1,
        "schedule": "warmup_cosine",
        "warmup_epochs": 1.0,
        "early_stopping_patience": 1,
    }
    again = train_again(run, tmp_path, tiny_params(train=knobs))
    epochs = pd.read_csv(again.training / "plots/metrics/val/loss.tsv", sep="\t")
    assert 2 <= len(epochs) < 30  # stopped early on the validation loss


def test_mixed_precision_stays_with_the_model_and_leaves_the_process_as_it_was(run, tmp_path):
    import keras

    params = tiny_params(train={"mixed_precision": True})
    again = train_again(run, tmp_path, params)
    assert keras.mixed_precision.global_policy().name == "float32"
    saved = keras.models.load_model(again.model, compile=False)
    assert saved.layers[1].dtype_policy.name == "mixed_bfloat16"  # after the input scaling
