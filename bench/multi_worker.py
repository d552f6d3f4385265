"""The train stage on one process, then on two workers of a cluster on 127.0.0.1.

    python bench/multi_worker.py                       # conf/ as it is (the basic preset)
    python bench/multi_worker.py -S train.epochs=3

Trains on the real MNIST (data/raw/mnist.npz, so run `dvc repro` first): the
stage as DVC runs it with `train.distribute: none`, then two stage processes
with `multi_worker` and a TF_CONFIG each, as two machines would run it. Prints
the wall time of each (process start to exit, TensorFlow's start included) and
the test accuracy of the model written. Both workers here share this machine's
cores, so this measures the mechanism, not a speed-up: that needs a machine a
worker.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mnist_pipeline.dataset import RawData, save_splits
from mnist_pipeline.preprocess import make_splits
from tests.workers import start_train_stage, tf_configs


def run_cluster(params: Path, data: Path, out: Path, workers: int) -> float:
    """Seconds until every worker has exited; raises if one failed."""
    started = time.perf_counter()
    configs = tf_configs(workers) if workers > 1 else [""]
    quiet = {"stdout": subprocess.DEVNULL}  # Keras's epoch lines, once per worker
    processes = [
        start_train_stage(params, data, out / f"worker{index}", {"TF_CONFIG": config}, **quiet)
        for index, config in enumerate(configs)
    ]
    statuses = [process.wait() for process in processes]
    if any(statuses):
        raise SystemExit(f"a worker failed: exit statuses {statuses}")
    return time.perf_counter() - started


def load_keras_model(path: Path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    return keras.models.load_model(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raw", default="data/raw/mnist.npz")
    parser.add_argument("-S", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    from in_process import composed_params, test_accuracy  # bench/: the script's folder

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        params = composed_params(args.overrides)
        splits = make_splits(RawData.load(args.raw), params.preprocess.val_fraction, params.seed)
        save_splits(root, splits)
        for distribute, workers in (("none", 1), ("multi_worker", 2)):
            settings = params.model_dump(mode="json")
            settings["train"]["distribute"] = distribute
            params_file = root / f"{distribute}.yaml"
            params_file.write_text(yaml.safe_dump(settings))
            seconds = run_cluster(params_file, root, root / distribute, workers)
            model = load_keras_model(root / distribute / "worker0/model.keras")
            accuracy = test_accuracy(model, splits["test"])
            print(
                f"{distribute:<12} {workers} process(es): {seconds:.1f} s from start to exit; "
                f"test accuracy {accuracy:.4f}"
            )
    print(f"overrides: {' '.join(args.overrides) or 'none'}; cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
