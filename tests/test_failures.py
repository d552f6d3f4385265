"""What a user sees when something is wrong: one line, a non-zero exit, and nothing half-written.

Stages run here as separate processes, exactly as DVC runs them.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from mnist_pipeline import errors
from mnist_pipeline.dataset import RawData
from mnist_pipeline.errors import PipelineError, Terminated, run_command
from mnist_pipeline.modelfile import load_model
from mnist_pipeline.params.train import TrainStageParams
from mnist_pipeline.preprocess import make_splits
from mnist_pipeline.training import train_model
from stages import download, preprocess
from tests.conftest import REPO, Workspace, run_stage, tiny_params, write_params


def files_under(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()}


def assert_one_line_error(result: subprocess.CompletedProcess, code: int, text: str) -> None:
    """Our message is the only line on stderr: no traceback, no TensorFlow start-up notes."""
    assert result.returncode == code, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert text in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stage", "section", "key"),
    [
        ("download", "data", "retries"),
        ("preprocess", "preprocess", "val_fraction"),
        ("train", "train", "epochs"),
        ("report", "report", "sample_images"),
    ],
)
def test_bad_params_stop_every_stage_with_status_2_before_any_output(
    tmp_path, sources_file, stage, section, key
):
    params = write_params(tmp_path / "params.yaml", tiny_params(**{section: {key: "ten"}}))
    out = Workspace(tmp_path / "out", sources=sources_file)
    result = run_stage(stage, *out.arguments(stage, params=params))
    assert_one_line_error(result, 2, f"{section}.{key}: 'ten' is not allowed")
    assert not out.root.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stage", "missing"),
    [
        ("preprocess", "raw/mnist.npz: raw MNIST not found"),
        ("train", "processed/train.npz: processed split not found"),
        ("evaluate", "processed/test.npz: processed split not found"),
        ("report", "metrics/evaluate.json: metrics file not found"),
        ("export", "processed/test.npz: processed split not found"),
    ],
)
def test_a_missing_input_says_what_to_run(tmp_path, params_file, stage, missing):
    result = run_stage(stage, *Workspace(tmp_path).arguments(stage, params=params_file))
    assert_one_line_error(result, 1, missing)
    assert "run `dvc repro` to build it (or `dvc pull`" in result.stderr


@pytest.mark.slow
def test_preprocess_names_the_first_problem_in_the_raw_arrays(tmp_path, params_file, tiny_mnist):
    workspace = Workspace(tmp_path)
    raw = workspace.raw
    RawData(tiny_mnist.x_train, tiny_mnist.y_train + 1, tiny_mnist.x_test, tiny_mnist.y_test).save(
        raw
    )
    result = run_stage("preprocess", *workspace.arguments("preprocess", params=params_file))
    assert_one_line_error(result, 1, "y_train: labels span 1..10, expected 0..9")
    assert not workspace.processed.exists()


@pytest.fixture(scope="module")
def processed(tmp_path_factory, sources_file) -> Path:
    """Tiny processed splits, made by the real download and preprocess stages."""
    root = tmp_path_factory.mktemp("processed")
    params = write_params(root / "params.yaml", tiny_params())
    download.main(
        ["--params", str(params), "--sources", str(sources_file), "--out", str(root / "raw.npz")]
    )
    preprocess.main(
        ["--params", str(params), "--raw", str(root / "raw.npz"), "--out", str(root / "processed")]
    )
    return root / "processed"


def train_command(root: Path, processed: Path, params: Path) -> list[str]:
    return [
        "--params",
        str(params),
        "--data",
        str(processed),
        "--model",
        str(root / "models/model.keras"),
        "--live",
        str(root / "plots/training"),
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("train", "message"),
    [
        # Plain SGD at the highest rate allowed overflows float32 at once.
        ({"learning_rate": 10.0, "optimizer": "sgd"}, "training loss became"),
        # Adam at this rate keeps a finite loss but learns nothing.
        ({"learning_rate": 10.0, "optimizer": "adam"}, "no better than chance"),
    ],
    ids=["diverging", "chance-level"],
)
def test_a_run_that_learns_nothing_fails_and_writes_nothing(tmp_path, processed, train, message):
    params = write_params(tmp_path / "params.yaml", tiny_params(train=train))
    result = run_stage("train", *train_command(tmp_path, processed, params))
    assert_one_line_error(result, 1, message)
    assert "lower train.learning_rate" in result.stderr
    assert files_under(tmp_path) == {"params.yaml"}


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_a_stage_stopped_midway_leaves_the_previous_outputs(tmp_path, processed, stop):
    params = write_params(tmp_path / "params.yaml", tiny_params(train={"epochs": 200}))
    model = tmp_path / "models/model.keras"
    live = tmp_path / "plots/training"
    model.parent.mkdir()
    model.write_bytes(b"the previous model")
    (live / "plots").mkdir(parents=True)
    (live / "metrics.json").write_text("{}")
    before = files_under(tmp_path)

    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "stages/train.py"),
            *train_command(tmp_path, processed, params),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    wait_for_line(process, "Epoch 2/")
    process.send_signal(stop)
    process.wait(timeout=60)

    assert process.returncode != 0
    assert model.read_bytes() == b"the previous model"
    assert (live / "metrics.json").read_text() == "{}"
    if stop != signal.SIGKILL:  # only SIGKILL gives no chance to clean up
        assert files_under(tmp_path) == before
        assert "error: interrupted; no output was written" in process.stderr.read()


@pytest.mark.slow
def test_params_changed_by_another_program_while_training_fail_the_stage(tmp_path, processed):
    params = write_params(tmp_path / "params.yaml", tiny_params(train={"epochs": 20}))
    command = [sys.executable, str(REPO / "stages/train.py")]
    process = subprocess.Popen(
        [*command, *train_command(tmp_path, processed, params)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_line(process, "Epoch 1/")
    write_params(params, tiny_params(train={"epochs": 2}))  # as a concurrent `dvc exp run -S` does
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 2, stderr
    assert stderr.count("\n") == 1
    assert "params.yaml changed while this stage ran (train.epochs: 20 -> 2)" in stderr
    assert files_under(tmp_path) == {"params.yaml"}


@pytest.fixture
def lost_stop_signal(monkeypatch):
    """A SIGTERM whose exception was lost, as one raised inside a ``__del__`` is."""
    monkeypatch.setattr(errors, "_stop_signals", [])
    with contextlib.suppress(Terminated):
        errors._raise_terminated(signal.SIGTERM, None)


@pytest.mark.slow
def test_a_lost_stop_signal_still_stops_training(lost_stop_signal, tmp_path, tiny_mnist):
    splits = make_splits(tiny_mnist, 0.1, 0, None)
    params = TrainStageParams.model_validate(tiny_params(train={"epochs": 50}))
    with pytest.raises(Terminated):
        train_model(params, splits["train"], splits["val"], tmp_path / "live")


def test_a_lost_stop_signal_still_makes_the_command_fail(lost_stop_signal, monkeypatch, capsys):
    # Keep pytest's own handlers: the point here is the exit status, not installing them.
    monkeypatch.setattr(errors.signal, "signal", lambda *args: None)
    with pytest.raises(SystemExit) as exit_info:
        run_command(lambda argv: None)
    assert exit_info.value.code == 128 + signal.SIGTERM
    assert "interrupted" in capsys.readouterr().err


def test_a_stop_signal_during_tensorflows_work_is_raised_after_it(monkeypatch):
    """Raised mid-op, the exception could corrupt TensorFlow's heap and abort the process."""
    monkeypatch.setattr(errors, "_stop_signals", [])
    finished = []
    with pytest.raises(Terminated), errors.stop_signals_deferred():
        errors._raise_terminated(signal.SIGINT, None)  # what the handler does: record only
        finished.append("the work")
    assert finished == ["the work"]


def wait_for_line(process: subprocess.Popen, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        if text in line:
            return
        assert time.monotonic() < deadline, f"no {text!r} within {timeout}s"
    raise AssertionError(f"process ended before printing {text!r}")


# --- loading models ------------------------------------------------------------------------------


def test_only_keras_files_are_loaded(tmp_path):
    for name, body in (("model.h5", b"\x89HDF\r\n"), ("model.keras", b"not a zip")):
        (tmp_path / name).write_bytes(body)
        with pytest.raises(PipelineError, match=r"not a \.keras model file"):
            load_model(tmp_path / name)


def test_a_model_that_would_run_code_is_refused(tmp_path):
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(PipelineError, match=r"cannot load the model: .*safe_mode"):
        load_model(tmp_path / "lambda.keras")


def test_a_missing_model_says_what_to_run(tmp_path):
    with pytest.raises(PipelineError, match="model file not found; run `dvc repro`"):
        load_model(tmp_path / "model.keras")


@pytest.mark.parametrize(
    ("inputs", "outputs"),
    [((32, 32, 3), 10), ((28, 28, 1), 5), ((784,), 10)],
    ids=["rgb-32x32", "five-classes", "flat"],
)
def test_a_model_of_the_wrong_shape_is_refused_in_one_line(tmp_path, inputs, outputs):
    model = keras.Sequential(
        [keras.Input(inputs), keras.layers.Flatten(), keras.layers.Dense(outputs)]
    )
    model.save(tmp_path / "model.keras")
    with pytest.raises(
        PipelineError, match=r"model.keras: the model takes .* expected digits"
    ) as error:
        load_model(tmp_path / "model.keras")
    assert "\n" not in str(error.value)


def test_a_trained_model_loads(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    images = np.zeros((2, 28, 28, 1), np.float32)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0))
