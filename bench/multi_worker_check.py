"""Does Keras's own fit train under MultiWorkerMirroredStrategy yet? Two workers on 127.0.0.1.

With Keras 3, `fit` fails under TensorFlow's MultiWorkerMirroredStrategy
(keras-team/keras#20585), so `train.distribute: multi_worker` trains inside
`mnist_pipeline.keras_mends.multi_worker_mended`, which mends the two places
it fails. This starts two worker processes with their own TF_CONFIG on free
loopback ports and fits a tiny model for one epoch, with Keras alone and then
with the mend, and prints what each worker ended with: the day Keras alone
trains, the mend can go.

    python bench/multi_worker_check.py [--timeout 180]
"""

import argparse
import os
import subprocess
import sys

from multi_worker import tf_configs

WORKER = """
import contextlib, sys
import keras, numpy as np, tensorflow as tf
from mnist_pipeline.keras_mends import multi_worker_mended

strategy = tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
with strategy.scope():
    model = keras.Sequential([
        keras.Input((28, 28), dtype="uint8"),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
rng = np.random.default_rng(0)
images = rng.integers(0, 256, (256, 28, 28), dtype=np.uint8)
labels = rng.integers(0, 10, 256)
mended = multi_worker_mended(model, strategy) if sys.argv[1] == "mended" else None
with mended or contextlib.nullcontext():
    batches = tf.data.Dataset.from_tensor_slices((images, labels)).batch(64)
    model.fit(batches, epochs=1, verbose=0)
print("trained", flush=True)
"""


def outcome(worker: subprocess.Popen, timeout: float) -> str:
    try:
        output, _ = worker.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.communicate()
        return f"no answer within {timeout:.0f} s (stopped)"
    if "trained" in output:
        return "trained"
    errors = [line for line in output.splitlines() if "Error" in line]
    return f"failed: {(errors or ['exit status ' + str(worker.returncode)])[-1][:160]}"


def run_workers(mode: str, timeout: float) -> list[str]:
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, mode],
            env={**os.environ, "TF_CONFIG": config, "TF_CPP_MIN_LOG_LEVEL": "3"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for config in tf_configs(2)
    ]
    try:
        return [outcome(worker, timeout) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    for mode, label in (("plain", "Keras alone"), ("mended", "with multi_worker_mended")):
        for index, result in enumerate(run_workers(mode, args.timeout)):
            print(f"{label}: worker {index}: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
