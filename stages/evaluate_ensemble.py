"""Stage evaluate_ensemble: the members' mean probabilities on the validation and test splits."""

import argparse
from pathlib import Path

from mnist_pipeline.atomic import write_json
from mnist_pipeline.dataset import Split, split_path
from mnist_pipeline.ensemble import ensemble_metrics, member_file
from mnist_pipeline.errors import run_command
from mnist_pipeline.params import load_params
from mnist_pipeline.params.ensemble import EnsembleStageParams


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, required=True)
    parser.add_argument("--members", type=Path, required=True, help="folder of member models")
    parser.add_argument("--data", type=Path, required=True, help="folder of processed splits")
    parser.add_argument("--metrics", type=Path, required=True, help="ensemble metrics JSON")
    args = parser.parse_args(argv)

    seeds = load_params(args.params, EnsembleStageParams).ensemble.seeds
    splits = {name: Split.load(split_path(args.data, name)) for name in ("val", "test")}
    from mnist_pipeline.classifier import KerasClassifier  # imports TensorFlow

    members = [KerasClassifier(member_file(args.members, seed)) for seed in seeds]
    write_json(
        args.metrics,
        {  # validation first: any choice about the ensemble is made there, never on test
            name: ensemble_metrics(split, [m.probabilities(split.x) for m in members], seeds)
            for name, split in splits.items()
        },
    )


if __name__ == "__main__":
    run_command(main)
