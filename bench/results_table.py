"""Train each architecture's measured configuration over several seeds; print the results table.

Each configuration is a list of `-S` overrides of params.yaml in
bench/configs.yaml, so `dvc exp run` with the same flags trains the same model
through the pipeline. Runs go through the pipeline's own code (make_splits,
train_model) on the real MNIST (data/raw/mnist.npz: run `dvc repro` first); the
seed changes the validation split, the initial weights and the augmentation.
Training time is the wall time of `fit`, validation included, as in
bench/reference_race.py. Test accuracy is that of the model training ends
with: nothing is selected on the test set.

Results go to bench/results/<arch>.json, one file per architecture, so the
architectures can be run one at a time and the table printed from them all:

    python bench/results_table.py --arch fast --seeds 0 1 2
    python bench/results_table.py            # just print the table

A stored run made with other overrides than configs.yaml now has is not shown.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import keras
from experiment import configurations, load_experiment, test_accuracy, train_experiment

from mnist_pipeline.atomic import write_json
from mnist_pipeline.dataset import RawData

BENCH = Path(__file__).parent
RESULTS = BENCH / "results"


def train_once(raw: RawData, overrides: list[str], seed: int) -> dict:
    params = load_experiment("params.yaml", [*overrides, f"seed={seed}"])
    clock = FitClock()
    model, test = train_experiment(raw, params, callbacks=[clock])
    accuracy = test_accuracy(model, test)
    keras.backend.clear_session()
    return {
        "seed": seed,
        "epochs": clock.epochs,
        "train_seconds": round(clock.seconds, 1),
        "test_accuracy": accuracy,
    }


class FitClock(keras.callbacks.Callback):
    """Wall time of fit from its start to the end of its last epoch, and the epochs run."""

    epochs, seconds = 0, 0.0

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs, self.seconds = epoch + 1, time.perf_counter() - self.started


def results_path(arch: str) -> Path:
    return RESULTS / f"{arch}.json"


def stored_runs(arch: str, overrides: list[str]) -> list[dict]:
    """The stored runs of ``arch`` made with exactly ``overrides``."""
    path = results_path(arch)
    if not path.is_file():
        return []
    stored = json.loads(path.read_text())
    return stored["runs"] if stored["overrides"] == overrides else []


def run_arch(raw: RawData, arch: str, overrides: list[str], seeds: list[int]) -> None:
    runs = {run["seed"]: run for run in stored_runs(arch, overrides)}
    for seed in seeds:
        runs[seed] = train_once(raw, overrides, seed)
        print(f"{arch} seed {seed}: {runs[seed]}", flush=True)
        # Saved after every seed: a long run that is cut off keeps what it finished.
        ordered = [runs[key] for key in sorted(runs)]
        write_json(results_path(arch), {"overrides": overrides, "runs": ordered})


def table(configs: dict[str, list[str]]) -> str:
    lines = [
        "| configuration | epochs | training time per run | test accuracy, mean ± sd | "
        "min to max | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for arch, overrides in configs.items():
        runs = stored_runs(arch, overrides)
        if not runs:
            lines.append(f"| {arch} | not run | | | | |")
            continue
        accuracies = [run["test_accuracy"] for run in runs]
        seconds = [run["train_seconds"] for run in runs]
        spread = statistics.stdev(accuracies) if len(runs) > 1 else 0.0
        epochs = sorted({run["epochs"] for run in runs})
        lines.append(
            f"| {arch} | {'/'.join(map(str, epochs))} | {format_seconds(min(seconds))} to "
            f"{format_seconds(max(seconds))} | {statistics.mean(accuracies):.2%} ± "
            f"{spread:.2%} | {min(accuracies):.2%} to {max(accuracies):.2%} | {len(runs)} |"
        )
    return "\n".join(lines)


def format_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", action="append", default=[], help="train this one (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--raw", default="data/raw/mnist.npz")
    args = parser.parse_args()
    configs = configurations()
    unknown = sorted(set(args.arch) - set(configs))
    if unknown:
        parser.error(f"unknown --arch {unknown}; configs.yaml has {sorted(configs)}")
    if args.arch:
        raw = RawData.load(args.raw)
        for arch in args.arch:
            run_arch(raw, arch, configs[arch], args.seeds)
    print(table(configs))


if __name__ == "__main__":
    main()
