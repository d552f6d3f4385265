"""The report's figures and text, drawn from metrics and plot data only (never the model).

Its inputs are other stages' files: each is checked as it is read, and a
missing or malformed one is named with the command that makes it again.
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.ticker import MaxNLocator

from mnist_pipeline.dataset import NUM_CLASSES
from mnist_pipeline.errors import MissingInputError, PipelineError
from mnist_pipeline.figures import CORRECT_COLOUR, WRONG_COLOUR, digit_grid_figure
from mnist_pipeline.gallery import Shown
from mnist_pipeline.params.report import ReportParams

# Errors from a light but visible orange (1 error) to dark red; masked cells show the white
# axes behind them, so a zero-error cell is blank rather than the palest shade.
ERROR_CELL_COLOURS = ListedColormap(
    plt.get_cmap("OrRd")(np.linspace(0.25, 1.0, 256)), name="errors"
).with_extremes(bad=(0, 0, 0, 0))
CORRECT_CELL_COLOURS = ListedColormap(["#d0d7de"], name="correct").with_extremes(bad=(0, 0, 0, 0))
GRID_COLOUR = "#eaeef2"
HISTORY_FILES = {  # the curves training.LiveCurves logs through dvclive
    "train_loss": "train/loss.tsv",
    "val_loss": "val/loss.tsv",
    "train_accuracy": "train/accuracy.tsv",
    "val_accuracy": "val/accuracy.tsv",
}


def read_json(path: Path) -> dict | list:
    """A metrics or per-digit file the evaluate stage wrote."""
    if not path.is_file():
        raise MissingInputError(path, "metrics file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise PipelineError(f"{path}: not valid JSON ({error})") from None


def read_predictions(path: Path) -> pd.DataFrame:
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


def figures(
    predictions: pd.DataFrame,
    history: pd.DataFrame,
    shown: dict[str, Shown],
    params: ReportParams,
) -> dict[str, tuple[str, Figure]]:
    """The report's figures by file name, each with its title, in report.md's order."""
    return {
        "confusion_matrix.png": ("Confusion matrix", confusion_figure(predictions)),
        "training_curves.png": ("Training curves", training_curves_figure(history)),
        "sample_predictions.png": (
            "Sample predictions",
            image_grid_figure(
                shown["samples"], params.sample_images, "Test images: predicted (confidence)"
            ),
        ),
        "misclassified.png": (
            "Most confidently misclassified",
            image_grid_figure(
                shown["mistakes"], params.misclassified_images, "Most confident mistakes"
            ),
        ),
    }


def confusion_counts(predictions: pd.DataFrame) -> pd.DataFrame:
    """A 10x10 table: rows are true digits, columns predicted digits."""
    digits = range(NUM_CLASSES)
    table = pd.crosstab(predictions["actual"], predictions["predicted"])
    return table.reindex(index=digits, columns=digits, fill_value=0)


def confusion_figure(predictions: pd.DataFrame) -> Figure:
    """Errors on their own colour scale; the diagonal, ~100 times larger, apart in grey.

    One scale for both would run to the diagonal's ~1,000 and leave every error
    (0-10 each) the same white: the part worth reading would be invisible.
    """
    counts = confusion_counts(predictions).to_numpy()
    errors = int(counts.sum() - counts.trace())
    figure, axes = plt.subplots(figsize=(7.5, 6.5))
    draw_correct_cells(axes, counts)
    error_image = draw_error_cells(axes, counts)
    colour_bar = figure.colorbar(error_image, ax=axes, fraction=0.05, pad=0.03)
    colour_bar.set_label("misclassified images")
    colour_bar.locator = MaxNLocator(integer=True)  # counts: no 2.5 images
    colour_bar.update_ticks()
    label_confusion_axes(axes)
    axes.set_title(
        f"Confusion matrix, {len(predictions)} test images, {errors} misclassified\n"
        "grey diagonal: read correctly (count, % of the digit)",
        fontsize=11,
    )
    figure.tight_layout()
    return figure


def draw_correct_cells(axes, counts: np.ndarray) -> AxesImage:
    """The diagonal in one neutral grey, annotated with its count and per-digit recall."""
    on_diagonal = np.eye(NUM_CLASSES, dtype=bool)
    image = axes.imshow(
        np.ma.masked_array(counts, mask=~on_diagonal),
        cmap=CORRECT_CELL_COLOURS,
        interpolation="nearest",
    )
    for digit in range(NUM_CLASSES):
        correct, total = counts[digit, digit], counts[digit].sum()
        recall = f"{correct / total:.1%}" if total else "-"
        axes.text(digit, digit, f"{correct}\n{recall}", ha="center", va="center", fontsize=8)
    return image


def draw_error_cells(axes, counts: np.ndarray) -> AxesImage:
    """Off-diagonal counts from 0 to the largest; cells with no error stay blank."""
    blank = np.eye(NUM_CLASSES, dtype=bool) | (counts == 0)
    norm = Normalize(vmin=0, vmax=max(1, counts[~blank].max(initial=0)))
    image = axes.imshow(
        np.ma.masked_array(counts, mask=blank),
        cmap=ERROR_CELL_COLOURS,
        norm=norm,
        interpolation="nearest",
    )
    for true_digit, predicted_digit in zip(*np.nonzero(~blank), strict=True):
        count = counts[true_digit, predicted_digit]
        # White text only where the cell is dark enough to need it.
        colour = "white" if norm(count) > 0.6 else "black"
        axes.text(predicted_digit, true_digit, count, ha="center", va="center", color=colour)
    return image


def label_confusion_axes(axes) -> None:
    digits = range(NUM_CLASSES)
    axes.set(xticks=digits, yticks=digits, xlabel="predicted digit", ylabel="true digit")
    # Faint lines between cells, so blank (zero-error) cells still read as a grid.
    axes.set_xticks(np.arange(NUM_CLASSES + 1) - 0.5, minor=True)
    axes.set_yticks(np.arange(NUM_CLASSES + 1) - 0.5, minor=True)
    axes.grid(which="minor", color=GRID_COLOUR, linewidth=0.8)
    axes.tick_params(which="minor", length=0)
    axes.tick_params(which="major", length=0)


def read_history(live_dir: Path) -> pd.DataFrame:
    """Per-epoch train and validation loss/accuracy, as logged by dvclive."""
    columns = {}
    for name, relative in HISTORY_FILES.items():
        path = live_dir / "plots" / "metrics" / relative
        if not path.is_file():
            raise MissingInputError(path, "training history")
        columns[name] = pd.read_csv(path, sep="\t").set_index("step").iloc[:, 0]
    history = pd.DataFrame(columns)
    history.index = history.index + 1  # dvclive counts steps from 0; people count epochs from 1
    return history.rename_axis("epoch")


def training_curves_figure(history: pd.DataFrame) -> Figure:
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(11, 4))
    for axes, metric in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
        for split, style in (("train", "o-"), ("val", "s--")):
            axes.plot(history.index, history[f"{split}_{metric}"], style, label=split)
        axes.set(xlabel="epoch", ylabel=metric, title=f"{metric} per epoch")
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    return figure


def image_grid_figure(shown: Shown, count: int, title: str) -> Figure:
    """Test images with 'predicted (confidence)' above and the true label below."""
    count = min(count, len(shown.labels))
    correct = shown.predicted[:count] == shown.labels[:count]
    return digit_grid_figure(
        shown.images[:count],
        titles=[
            f"{p} ({c:.0%})"
            for p, c in zip(shown.predicted[:count], shown.confidence[:count], strict=True)
        ],
        captions=[f"true {label}" for label in shown.labels[:count]],
        colours=[CORRECT_COLOUR if ok else WRONG_COLOUR for ok in correct],
        title=title,
    )


def markdown_report(
    summary: dict, per_class: list[dict], history: pd.DataFrame, titles: dict[str, str]
) -> str:
    """The report's text; ``titles`` are its figures' by file name."""
    test, val = summary["test"], summary["val"]
    lines = [
        "# MNIST test report",
        "",
        f"Test accuracy **{test['accuracy']:.4f}**, loss {test['loss']:.4f}, after "
        f"{len(history)} epochs (validation accuracy {val['accuracy']:.4f}).",
        "",
        "| split | accuracy | loss |",
        "|---|---|---|",
        *(
            f"| {split} | {scores['accuracy']:.4f} | {scores['loss']:.4f} |"
            for split, scores in summary.items()
        ),
        "",
        "## Per class",
        "",
        "| digit | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
        *(
            f"| {row['digit']} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} "
            f"| {row['support']} |"
            for row in per_class
        ),
        "",
        "## Figures",
        "",
        *(f"![{title}]({name})\n" for name, title in titles.items()),
    ]
    return "\n".join(lines)
