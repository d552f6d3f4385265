"""Each preset of conf/model/ over several seeds, run as DVC experiments; the results table.

Each run is a real experiment of the pipeline, in a temporary copy of the
workspace (the workspace is left as it is):

    dvc exp run --temp -f -n <preset>-seed<seed> -S model=<preset> -S seed=<seed> evaluate

``-f`` trains afresh even where DVC's run-cache holds the run, so that every
run is timed. The seed also changes the validation split and the augmentation.
Test accuracy is read back with `dvc exp show --json` (metrics/evaluate.json):
that of the model training ends with, nothing chosen on the test set. Training
time is the line the train stage prints: the wall time of `fit`, validation
included. Runs go to bench/results/<preset>.json with the commit and the
machine they ran on, so presets can be run one at a time, and the table is
printed from them all:

    python bench/results_table.py --preset fast --seeds 0 1 2
    python bench/results_table.py            # just print the table
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

from cpu import machine

from mnist_pipeline.atomic import write_json
from mnist_pipeline.params.compose import CONF
from mnist_pipeline.training import FIT_TIME
from mnist_pipeline.tune import (
    Stop,
    dvc_executable,
    experiment_metrics,
    metric_value,
    run_experiment,
)

BENCH = Path(__file__).parent
RESULTS = BENCH / "results"
REPO = BENCH.parent
PRESETS = sorted(path.stem for path in (REPO / CONF / "model").glob("*.yaml"))
FIT_LINE = re.compile(rf"{re.escape(FIT_TIME)} (\d+) epochs in ([\d.]+) s")


def commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"]).returncode != 0
    return head.stdout.strip() + ("+uncommitted changes" if dirty else "")


def run_once(preset: str, seed: int) -> dict:
    """One experiment; its epochs, training seconds and test accuracy."""
    name = f"{preset}-seed{seed}"
    # A rerun takes the name again: DVC refuses a second experiment under one name.
    subprocess.run([dvc_executable(), "exp", "remove", name], capture_output=True)
    arguments = ["-f", "-S", f"model={preset}", "-S", f"seed={seed}", "evaluate"]
    log = Path(".dvc/tmp/results_table") / f"{name}.log"
    run = run_experiment(name, arguments, log, Stop())
    if run.returncode != 0:
        sys.exit(f"dvc exp run {name} failed (exit {run.returncode}); see {log}")
    (epochs, seconds) = FIT_LINE.findall(log.read_text())[-1]
    accuracy = metric_value(experiment_metrics(name, "metrics/evaluate.json"), "test.accuracy")
    return {"seed": seed, "epochs": int(epochs), "train_seconds": float(seconds),
            "test_accuracy": accuracy, "commit": commit(), "machine": machine()}  # fmt: skip


def stored_runs(preset: str) -> list[dict]:
    path = RESULTS / f"{preset}.json"
    return json.loads(path.read_text())["runs"] if path.is_file() else []


def run_preset(preset: str, seeds: list[int]) -> None:
    runs = {run["seed"]: run for run in stored_runs(preset)}
    for seed in seeds:
        runs[seed] = run_once(preset, seed)
        print(f"{preset} seed {seed}: {runs[seed]}", flush=True)
        # Saved after every seed: a long run that is cut off keeps what it finished.
        write_json(RESULTS / f"{preset}.json", {"runs": [runs[key] for key in sorted(runs)]})


def table() -> str:
    rows, where = [], set()
    for preset in PRESETS:
        runs = stored_runs(preset)
        if not runs:
            rows.append(f"| {preset} | not run | | | | |")
            continue
        where |= {(run["commit"], run["machine"]) for run in runs}
        rows.append(row(preset, runs))
    header = [
        "| preset | epochs | training time per run | test accuracy, mean ± sd "
        "| min to max | seeds |",
        "|---|---|---|---|---|---|",
    ]
    measured = [f"Measured at commit {c} on {m}." for c, m in sorted(where)]
    return "\n".join([*header, *rows, "", *measured])


def row(preset: str, runs: list[dict]) -> str:
    accuracies = [run["test_accuracy"] for run in runs]
    seconds = [run["train_seconds"] for run in runs]
    spread = statistics.stdev(accuracies) if len(runs) > 1 else 0.0
    epochs = "/".join(map(str, sorted({run["epochs"] for run in runs})))
    return (
        f"| `{preset}` | {epochs} | {format_seconds(min(seconds))} to "
        f"{format_seconds(max(seconds))} | {statistics.mean(accuracies):.2%} ± {spread:.2%} | "
        f"{min(accuracies):.2%} to {max(accuracies):.2%} | {len(runs)} |"
    )


def format_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", action="append", default=[], choices=PRESETS,
                        help="run this preset (repeatable)")  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    for preset in args.preset:
        run_preset(preset, args.seeds)
    print(table())


if __name__ == "__main__":
    main()
