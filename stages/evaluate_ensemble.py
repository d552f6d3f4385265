"""Stage evaluate_ensemble: the members' mean probabilities on the validation and test splits."""

import argparse
from pathlib import Path

from mnist_pipeline.atomic import write_json
from mnist_pipeline.dataset import Split, split_path
from mnist_pipeline.ensemble import ensemble_metrics, member_accuracies, member_file
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
    splits = {name: Split.load(split_path(args.data, name)) for name in ("test", "val")}
    from mnist_pipeline.classifier import KerasClassifier  # imports TensorFlow

    members = [KerasClassifier(member_file(args.members, seed)) for seed in seeds]
    scores = {}
    for name, split in splits.items():
        probabilities = [member.probabilities(split.x) for member in members]
        scores[name] = ensemble_metrics(split, probabilities)
        alone = ", ".join(f"{a:.4f}" for a in member_accuracies(split, probabilities))
        print(f"{name}: {len(members)} members ({alone}), together {scores[name]['accuracy']:.4f}")
    # The same keys as metrics/evaluate.json: test.accuracy is the test accuracy everywhere.
    write_json(args.metrics, scores)


if __name__ == "__main__":
    run_command(main)
