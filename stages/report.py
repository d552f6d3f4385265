"""Stage report: figures and a markdown summary, from the metrics and plot data alone."""

import argparse
import json
from pathlib import Path

import pandas as pd

from mnist_pipeline.atomic import atomic_path
from mnist_pipeline.dataset import NUM_CLASSES
from mnist_pipeline.errors import MissingInputError, PipelineError, run_command
from mnist_pipeline.evaluation import load_gallery
from mnist_pipeline.figures import save_figure
from mnist_pipeline.params import check_unchanged, load_params
from mnist_pipeline.params.report import ReportStageParams
from mnist_pipeline.report import (
    confusion_figure,
    image_grid_figure,
    markdown_report,
    read_history,
    training_curves_figure,
)

IMAGES = {
    "confusion_matrix.png": "Confusion matrix",
    "training_curves.png": "Training curves",
    "sample_predictions.png": "Sample predictions",
    "misclassified.png": "Most confidently misclassified",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", type=Path, required=True)
    for name in ("metrics", "per-class", "predictions", "gallery", "training", "out"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    args = parser.parse_args(argv)

    stage_params = load_params(args.params, ReportStageParams)
    params = stage_params.report
    summary, per_class = read_json(args.metrics), read_json(args.per_class)
    predictions = read_csv(args.predictions)
    history = read_history(args.training)
    shown = load_gallery(args.gallery)
    figures = {
        "confusion_matrix.png": confusion_figure(predictions),
        "training_curves.png": training_curves_figure(history),
        "sample_predictions.png": image_grid_figure(
            shown["samples"], params.sample_images, "Test images: predicted (confidence)"
        ),
        "misclassified.png": image_grid_figure(
            shown["mistakes"], params.misclassified_images, "Most confident mistakes"
        ),
    }
    with atomic_path(args.out, directory=True) as folder:
        for name, figure in figures.items():
            save_figure(figure, folder / name)
        (folder / "report.md").write_text(markdown_report(summary, per_class, history, IMAGES))
        check_unchanged(args.params, stage_params)
    print(f"test accuracy {summary['test']['accuracy']:.4f}; report in {args.out / 'report.md'}")


def read_json(path: Path) -> dict | list:
    if not path.is_file():
        raise MissingInputError(path, "metrics file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise PipelineError(f"{path}: not valid JSON ({error})") from None


def read_csv(path: Path) -> pd.DataFrame:
    """The evaluate stage's rows of actual and predicted digits, checked."""
    if not path.is_file():
        raise MissingInputError(path, "predictions file")
    try:
        rows = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as error:
        raise PipelineError(f"{path}: not a readable CSV ({error})") from None
    digits = rows.reindex(columns=["actual", "predicted"])
    if digits.isna().any().any() or not digits.isin(range(NUM_CLASSES)).all().all():
        raise PipelineError(
            f"{path}: expected columns actual,predicted holding digits 0-9; "
            "run `dvc repro -f evaluate`"
        )
    return digits


if __name__ == "__main__":
    run_command(main)
