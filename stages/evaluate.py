"""Stage evaluate: score the trained model on the held-out test split (and the validation split)."""

import argparse
from pathlib import Path

import pandas as pd

from mnist_pipeline.atomic import atomic_paths, dump_json
from mnist_pipeline.dataset import Split, split_path
from mnist_pipeline.errors import run_command
from mnist_pipeline.evaluation import per_class_metrics, summary_metrics
from mnist_pipeline.gallery import gallery, save_gallery


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="folder of processed splits")
    parser.add_argument("--metrics", type=Path, required=True, help="summary metrics JSON")
    parser.add_argument("--per-class", type=Path, required=True, help="per-class metrics JSON")
    parser.add_argument("--predictions", type=Path, required=True, help="actual,predicted CSV")
    parser.add_argument("--gallery", type=Path, required=True, help="images for the report")
    args = parser.parse_args(argv)

    test = Split.load(split_path(args.data, "test"))
    val = Split.load(split_path(args.data, "val"))
    from mnist_pipeline.classifier import KerasClassifier  # imports TensorFlow

    model = KerasClassifier(args.model)
    probabilities = model.probabilities(test.x)
    predicted = probabilities.argmax(axis=1)
    # The validation split's figures too: choices (a tuner's, an ensemble's) are made on them.
    scores = {
        "test": summary_metrics(test.y, probabilities),
        "val": summary_metrics(val.y, model.probabilities(val.x)),
    }
    outputs = (args.metrics, args.per_class, args.predictions, args.gallery)
    # All four or none: the metrics never disagree with the other outputs.
    with atomic_paths(*outputs) as (metrics, per_class, predictions, shown):
        dump_json(metrics, scores)
        dump_json(per_class, per_class_metrics(test.y, predicted))
        pd.DataFrame({"actual": test.y, "predicted": predicted}).to_csv(predictions, index=False)
        save_gallery(shown, gallery(test.x, test.y, probabilities))


if __name__ == "__main__":
    run_command(main)
