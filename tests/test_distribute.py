"""train.distribute for real on this machine: mirrored over two logical CPU devices, and
multi_worker with two worker processes on 127.0.0.1.

TensorFlow fixes its devices when it starts, so every run here is its own process.
"""

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnist_pipeline.dataset import save_splits
from mnist_pipeline.preprocess import make_splits
from tests.conftest import REPO, make_tiny_mnist, tiny_params, write_params
from tests.workers import start_train_stage, tf_configs

pytestmark = pytest.mark.slow

# Two logical CPU devices, then the single-device and the mirrored run on the same data.
MIRRORED_RUN = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from mnist_pipeline.params.train import TrainStageParams
from mnist_pipeline.preprocess import make_splits
from mnist_pipeline.training import distribution, train_model
from tests.conftest import make_tiny_mnist, tiny_params

splits = make_splits(make_tiny_mnist(), 0.1, 0)
results = {}
for name, train in (("single", {"distribute": "none"}),
                    ("mirrored", {"distribute": "mirrored", "devices": ["CPU:0", "CPU:1"]})):
    params = TrainStageParams.model_validate(tiny_params(train={"epochs": 3, **train}))
    model = train_model(params, splits["train"], splits["val"], f"{sys.argv[1]}/{name}")
    predicted = model.predict(splits["test"].x, verbose=0).argmax(axis=1)
    results[name] = {
        "replicas": distribution(params.train).num_replicas_in_sync,
        "accuracy": float((predicted == splits["test"].y).mean()),
    }
print(json.dumps(results))
"""


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}


def test_mirrored_over_two_cpu_devices_trains_like_one_device(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_RUN, str(tmp_path)],
        capture_output=True, text=True, check=False, env=environment(), timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    assert (runs["single"]["replicas"], runs["mirrored"]["replicas"]) == (1, 2)
    assert runs["mirrored"]["accuracy"] > 0.6
    assert abs(runs["mirrored"]["accuracy"] - runs["single"]["accuracy"]) < 0.05


class Worker:
    """A train stage process with its own TF_CONFIG, outputs and temporary folder: a machine."""

    def __init__(self, root: Path, tf_config: str, params: Path, data: Path):
        self.root, self.temp = root, root / "tmp"
        self.temp.mkdir(parents=True)
        self.model, self.live = root / "model.keras", root / "live"
        self.stdout, self.stderr = root.with_suffix(".stdout"), root.with_suffix(".stderr")
        env = {"TF_CONFIG": tf_config, "TMPDIR": str(self.temp)}
        with self.stdout.open("w") as stdout, self.stderr.open("w") as stderr:
            self.process = start_train_stage(params, data, root, env, stdout=stdout, stderr=stderr)

    def finish(self, timeout: float) -> tuple[int, str]:
        """Its exit status and stderr; killed if it has not ended within ``timeout`` seconds."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.returncode, self.stderr.read_text()

    def reached_epoch(self, epoch: int) -> bool:
        return f"Epoch {epoch}/" in self.stdout.read_text()


def start_workers(tmp_path: Path, epochs: int) -> list[Worker]:
    data = tmp_path / "data"
    data.mkdir(parents=True)
    save_splits(data, make_splits(make_tiny_mnist(), 0.1, 0))
    params = tiny_params(train={"epochs": epochs, "distribute": "multi_worker"})
    params_file = write_params(tmp_path / "params.yaml", params)
    return [
        Worker(tmp_path / f"worker{index}", config, params_file, data)
        for index, config in enumerate(tf_configs(2))
    ]


@pytest.fixture
def workers(tmp_path, request) -> Iterator[list[Worker]]:
    started = start_workers(tmp_path, epochs=request.param)
    yield started
    for worker in started:
        worker.finish(timeout=0)


@pytest.mark.parametrize("workers", [3], indirect=True)
def test_two_workers_train_one_model_and_only_the_chief_writes_it(workers):
    results = [worker.finish(timeout=600) for worker in workers]
    assert [status for status, _ in results] == [0, 0], results
    chief, other = workers
    assert sorted(path.name for path in chief.root.iterdir()) == ["live", "model.keras", "tmp"]
    assert sorted(path.name for path in other.root.iterdir()) == ["tmp"]
    assert list(other.temp.iterdir()) == []  # its outputs went there and were removed
    # Every step was one step of both: the logs agree to the last digit.
    assert epoch_lines(chief) == epoch_lines(other)
    curve = (chief.live / "plots/metrics/val/accuracy.tsv").read_text().splitlines()
    assert len(curve) == 1 + 3  # a header and one row per epoch
    import keras  # seconds to import: only for the tests that need it

    test = make_splits(make_tiny_mnist(), 0.1, 0)["test"]
    model = keras.models.load_model(chief.model)
    assert (model.predict(test.x, verbose=0).argmax(axis=1) == test.y).mean() > 0.6


def epoch_lines(worker: Worker) -> list[str]:
    lines = worker.stdout.read_text().splitlines()
    return [re.sub(r" - \d+s - \d+ms/step", "", line) for line in lines if "val_loss" in line]


@pytest.mark.parametrize("workers", [500], indirect=True)
def test_a_worker_that_dies_mid_run_fails_the_run_and_keeps_the_previous_outputs(workers):
    chief, other = workers
    chief.live.mkdir()
    (chief.live / "metrics.json").write_text('{"step": 9}\n')
    chief.model.write_bytes(b"the previous model")
    deadline = time.monotonic() + 600
    while not chief.reached_epoch(2):  # a few steps of both are done
        assert chief.process.poll() is None and time.monotonic() < deadline, chief.finish(0)
        time.sleep(0.2)
    other.process.kill()
    status, stderr = chief.finish(timeout=300)
    assert status == 1
    lines = stderr.splitlines()
    assert lines[-1].startswith("error: training stopped: UnavailableError: ")
    assert "a worker of the cluster stopped or cannot be reached" in lines[-1]
    # One line of ours and no traceback; the line may quote gRPC's own "last error: ...".
    assert [line for line in lines if line.startswith("error:")] == lines[-1:]
    assert "Traceback" not in stderr
    assert chief.model.read_bytes() == b"the previous model"
    assert sorted(path.name for path in chief.root.iterdir()) == ["live", "model.keras", "tmp"]
    assert (chief.live / "metrics.json").read_text() == '{"step": 9}\n'


def test_two_clusters_with_one_seed_write_the_same_model(tmp_path):
    models = []
    for run in ("first", "second"):
        chief, other = start_workers(tmp_path / run, epochs=2)
        assert [chief.finish(600)[0], other.finish(600)[0]] == [0, 0]
        models.append(chief.model.read_bytes())
    assert models[0] == models[1]
