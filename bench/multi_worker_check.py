"""Does Keras's fit train under MultiWorkerMirroredStrategy here? Two workers on 127.0.0.1.

`train.distribute` offers no `multi_worker` because, with Keras 3, `fit` fails
under TensorFlow's MultiWorkerMirroredStrategy (keras-team/keras#20585: the
strategy hands Keras per-replica batches it cannot convert). This starts two
worker processes with their own TF_CONFIG on free loopback ports, fits a tiny
model on random digits for one epoch, and prints what each worker ended with,
so the day a release fixes it is one command away.

    python bench/multi_worker_check.py [--timeout 180]
"""

import argparse
import json
import os
import socket
import subprocess
import sys

WORKER = """
import os, sys
import keras, numpy as np, tensorflow as tf

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
model.fit(tf.data.Dataset.from_tensor_slices((images, labels)).batch(64), epochs=1, verbose=0)
print("trained", flush=True)
"""


def free_ports(count: int) -> list[int]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def tf_config(ports: list[int], index: int) -> str:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    ports = free_ports(2)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            env={**os.environ, "TF_CONFIG": tf_config(ports, index), "TF_CPP_MIN_LOG_LEVEL": "3"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index in range(2)
    ]
    try:
        results = [outcome(worker, args.timeout) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for index, result in enumerate(results):
        print(f"worker {index}: {result}")
    return 0 if all(result == "trained" for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
