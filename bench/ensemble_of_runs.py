"""The mean of a results-table row's stored runs: an ensemble of its seeds' models.

Each seed of a row in bench/results/ (``results_table.py --label ROW``) is a
model trained with its own seed, which also draws its own validation split: a
bagged ensemble, where `make ensemble`'s members all share the default split.
Each run's model is read from its experiment, ``<row>-seed<seed>``; where that
experiment is gone (``dvc exp remove``, another clone) it is run again with
the stored overrides, which DVC's run-cache restores in seconds where it holds
the run, and trains otherwise. A model whose test accuracy is not the stored
run's (trained again on other code) stops the script. The members'
probabilities on the test set are averaged in the stored seeds' order, so the
figure for N members is decided before any test score is seen; the first 1,
2, ... N are printed too.

    python bench/ensemble_of_runs.py --label best_ema [--members 5]

The result is kept in bench/results/ensembles/<row>.json, with the commit.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import dvc.api
import numpy as np
import yaml
from results_table import REPO, RESULTS, commit, experiment_name, stored

from mnist_pipeline.atomic import write_json
from mnist_pipeline.classifier import load_classifier
from mnist_pipeline.dataset import Split, split_path
from mnist_pipeline.ensemble import ensemble_metrics, member_accuracies
from mnist_pipeline.tune import Stop, git, run_experiment

MODEL = yaml.safe_load((REPO / "paths.yaml").read_text())["paths"]["model"]


def member_probabilities(label: str, run: dict, overrides: list[str], test: Split) -> np.ndarray:
    """One stored run's model on the test set; its experiment run again where it is gone."""
    name = experiment_name(label, run["seed"])
    if newest_experiment(name) is None:
        settings = [f"seed={run['seed']}", *overrides]
        arguments = [word for setting in settings for word in ("-S", setting)]
        log = Path(".dvc/tmp/ensemble_of_runs") / f"{name}.log"
        if run_experiment(name, [*arguments, "evaluate"], log, Stop()).returncode != 0:
            sys.exit(f"dvc exp run {name} failed; see {log}")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "model.keras"
        path.write_bytes(dvc.api.read(MODEL, rev=newest_experiment(name), mode="rb"))
        probabilities = load_classifier(path).probabilities(test.x)
    (accuracy,) = member_accuracies(test, [probabilities])
    if round(accuracy, 4) != round(run["test_accuracy"], 4):
        # Run again on other code, it trained another model: not the stored run's.
        sys.exit(f"{name}: test accuracy {accuracy:.4f}, the stored run's {run['test_accuracy']}")
    return probabilities


def newest_experiment(name: str) -> str | None:
    """The commit of the newest experiment called ``name``, on any baseline commit.

    DVC's own lookup by name refuses a name that experiments on several commits share.
    """
    refs = git("for-each-ref", "--sort=-creatordate", "--format=%(objectname) %(refname)",
               "refs/exps")  # fmt: skip
    for line in refs.splitlines():
        commit_hash, ref = line.split()
        if ref.endswith(f"/{name}"):
            return commit_hash
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--label", required=True, help="a row of bench/results/")
    parser.add_argument("--members", type=int, default=5, help="the first N stored seeds")
    parser.add_argument("--data", type=Path, default=Path("data/processed"))
    args = parser.parse_args()
    kept = stored(args.label)
    runs = kept["runs"][: args.members]
    if len(runs) < 2:
        sys.exit(f"bench/results/{args.label}.json holds {len(runs)} runs; an ensemble needs 2")
    test = Split.load(split_path(args.data, "test"))
    members = [member_probabilities(args.label, run, kept["overrides"], test) for run in runs]
    seeds = [run["seed"] for run in runs]
    accuracies = member_accuracies(test, members)
    growing = [
        ensemble_metrics(test, members[:count])["accuracy"] for count in range(1, len(runs) + 1)
    ]
    print(f"{args.label}: members' test accuracy {accuracies} (seeds {seeds})")
    for count, accuracy in enumerate(growing, start=1):
        print(f"  mean of the first {count}: {accuracy:.2%}")
    write_json(
        RESULTS / "ensembles" / f"{args.label}.json",
        {"overrides": kept["overrides"], "seeds": seeds, "commit": commit(),
         "members_test_accuracy": accuracies, "mean_of_first_n_test_accuracy": growing},
    )  # fmt: skip


if __name__ == "__main__":
    main()
