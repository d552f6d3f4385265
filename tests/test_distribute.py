"""train.distribute for real on this machine: mirrored over two logical CPU devices.

TensorFlow fixes its devices when it starts, so every run here is its own process.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

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
