"""Each preset of conf/model/ over several seeds, run as DVC experiments; the results table.

Each run is a real experiment of the pipeline, in a temporary copy of the
workspace (the workspace is left as it is):

    dvc exp run --temp -f -n <label>-seed<seed> -S model=<preset> -S seed=<seed> [-S ...] evaluate

``-f`` trains afresh even where DVC's run-cache holds the run, so that every
run is timed (it runs every stage up to evaluate, the download too). The seed
also changes the validation split and the augmentation.
Test accuracy is read back with `dvc exp show --json` (metrics/evaluate.json):
that of the model training ends with, nothing chosen on the test set. Training
time is the line the train stage prints: the wall time of `fit`, validation
included. Runs go to bench/results/<preset>.json with the commit and the
machine they ran on, so presets can be run one at a time, and the table is
printed from them all. A variant of a preset is a row of its own:

    python bench/results_table.py --preset fast --seeds 0 1 2
    python bench/results_table.py --preset best --label best_ema -S train.ema_momentum=0.999
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
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
    )
    # Results files do not count: a row's own file changes after its first seed.
    changed = ["git", "diff", "--quiet", "HEAD", "--", ".", f":!{RESULTS.relative_to(REPO)}"]
    dirty = subprocess.run(changed, cwd=REPO).returncode != 0
    return head.stdout.strip() + ("+uncommitted changes" if dirty else "")


def experiment_name(label: str, seed: int) -> str:
    return f"{label}-seed{seed}"


def run_once(label: str, overrides: list[str], seed: int) -> dict:
    """One experiment; its epochs, training seconds and test accuracy."""
    name = experiment_name(label, seed)
    # A rerun takes the name again: DVC refuses a second experiment under one name.
    subprocess.run([dvc_executable(), "exp", "remove", name], capture_output=True)
    settings = [f"seed={seed}", *overrides]
    arguments = ["-f", *[word for setting in settings for word in ("-S", setting)], "evaluate"]
    log = Path(".dvc/tmp/results_table") / f"{name}.log"
    run = run_experiment(name, arguments, log, Stop())
    if run.returncode != 0:
        sys.exit(f"dvc exp run {name} failed (exit {run.returncode}); see {log}")
    fits = FIT_LINE.findall(log.read_text())
    if not fits:
        sys.exit(f"dvc exp run {name}: the train stage printed no training time; see {log}")
    epochs, seconds = fits[-1]
    accuracy = metric_value(experiment_metrics(name, "metrics/evaluate.json"), "test.accuracy")
    return {"seed": seed, "epochs": int(epochs), "train_seconds": float(seconds),
            "test_accuracy": accuracy, "commit": commit(), "machine": machine()}  # fmt: skip


def stored(label: str) -> dict:
    path = RESULTS / f"{label}.json"
    return json.loads(path.read_text()) if path.is_file() else {"overrides": [], "runs": []}


def run_label(label: str, overrides: list[str], seeds: list[int]) -> None:
    """Each seed's run of ``overrides``; stored runs of other overrides are dropped."""
    kept = stored(label)
    runs = {run["seed"]: run for run in kept["runs"]} if kept["overrides"] == overrides else {}
    for seed in seeds:
        runs[seed] = run_once(label, overrides, seed)
        print(f"{label} seed {seed}: {runs[seed]}", flush=True)
        # Saved after every seed: a long run that is cut off keeps what it finished.
        ordered = [runs[key] for key in sorted(runs)]
        write_json(RESULTS / f"{label}.json", {"overrides": overrides, "runs": ordered})


def table() -> str:
    labels = [*PRESETS, *sorted({path.stem for path in RESULTS.glob("*.json")} - set(PRESETS))]
    rows, where = [], set()
    for label in labels:
        kept = stored(label)
        if not kept["runs"]:
            rows.append(f"| `{label}` | not run | | | | | |")
            continue
        where |= {(run["commit"], run["machine"]) for run in kept["runs"]}
        rows.append(row(label, kept))
    header = [
        "| run | `dvc exp run -S` | epochs | training time per run | test accuracy, mean ± sd "
        "| min to max | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    measured = [f"Measured at commit {c} on {m}." for c, m in sorted(where)]
    return "\n".join([*header, *rows, "", *measured])


def row(label: str, kept: dict) -> str:
    runs = kept["runs"]
    accuracies = [run["test_accuracy"] for run in runs]
    seconds = [run["train_seconds"] for run in runs]
    spread = statistics.stdev(accuracies) if len(runs) > 1 else 0.0
    epochs = "/".join(map(str, sorted({run["epochs"] for run in runs})))
    flags = " ".join(kept["overrides"])
    return (
        f"| `{label}` | `{flags}` | {epochs} | {format_seconds(min(seconds))} to "
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
    parser.add_argument("--label", help="the row's name, for one preset with -S (default: preset)")
    parser.add_argument("-S", dest="overrides", action="append", default=[],
                        help="a further `dvc exp run -S` override (repeatable)")  # fmt: skip
    args = parser.parse_args()
    if (args.label or args.overrides) and len(args.preset) != 1:
        parser.error("--label and -S go with exactly one --preset")
    for preset in args.preset:
        overrides = [f"model={preset}", *args.overrides]
        run_label(args.label or preset, overrides, args.seeds)
    print(table())


if __name__ == "__main__":
    main()
