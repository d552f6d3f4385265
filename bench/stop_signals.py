"""Ctrl-C the train stage where the stop-signal test does, many times; count what it leaves.

    python bench/stop_signals.py [--runs 50] [--folder DIR]

Trains the tests' tiny MNIST for 200 epochs, sends SIGINT as the stage prints
"Epoch 2/" (where Keras starts the epoch's dataset iterator), and checks that the
previous model and curves are all that is left. Prints each run's exit status
and a count; a run killed by the C library (-6, SIGABRT) shows its stderr. Before
stop signals were deferred while TensorFlow works, some runs ended that way and
left the temporary curves folder behind.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mnist_pipeline.dataset import save_splits
from mnist_pipeline.preprocess import make_splits
from tests.conftest import REPO, make_tiny_mnist, tiny_params, write_params


def previous_outputs(folder: Path) -> list[str]:
    (folder / "models").mkdir(parents=True)
    (folder / "models/model.keras").write_bytes(b"the previous model")
    (folder / "plots/training/plots").mkdir(parents=True)
    return files_under(folder)


def files_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def stopped_run(folder: Path, processed: Path, params: Path) -> tuple[int, bool, str]:
    before = previous_outputs(folder)
    command = [sys.executable, str(REPO / "stages/train.py"), "--params", str(params),
               "--data", str(processed), "--model", str(folder / "models/model.keras"),
               "--live", str(folder / "plots/training")]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONFAULTHANDLER": "1"},
    )  # fmt: skip
    for line in process.stdout:
        if "Epoch 2/" in line:
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    return process.returncode, files_under(folder) == before, stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--folder", type=Path, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    root = args.folder or Path(tempfile.mkdtemp(prefix="stop-signals-"))
    processed = root / "processed"
    processed.mkdir(parents=True, exist_ok=True)
    save_splits(processed, make_splits(make_tiny_mnist(), 0.1, 0))
    params = write_params(root / "params.yaml", tiny_params(train={"epochs": 200}))
    clean = 0
    for run in range(args.runs):
        folder = root / f"run{run}"
        shutil.rmtree(folder, ignore_errors=True)
        status, kept, stderr = stopped_run(folder, processed, params)
        clean += kept
        print(f"run {run}: exit {status}, {'clean' if kept else 'LEFT SOMETHING'}", flush=True)
        if not kept:
            print(stderr[:2000], flush=True)
    print(f"{clean} of {args.runs} runs left only the previous outputs")


if __name__ == "__main__":
    main()
