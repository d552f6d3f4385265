"""The report's figures and text, drawn from metrics and plot data only (never the model)."""

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from mnist_pipeline.dataset import NUM_CLASSES
from mnist_pipeline.errors import MissingInputError
from mnist_pipeline.evaluation import Shown

CORRECT_COLOUR, WRONG_COLOUR, UNSURE_COLOUR = "#1a7f37", "#cf222e", "#bf8700"
TITLE_CHARACTERS_PER_DIGIT = 13  # a grid title's characters that fit over one 1.5-inch digit
HISTORY_FILES = {  # dvclive's names: "eval" is our validation split
    "train_loss": "train/loss.tsv",
    "val_loss": "eval/loss.tsv",
    "train_accuracy": "train/accuracy.tsv",
    "val_accuracy": "eval/accuracy.tsv",
}


def confusion_counts(predictions: pd.DataFrame) -> pd.DataFrame:
    """A 10x10 table: rows are true digits, columns predicted digits."""
    digits = range(NUM_CLASSES)
    table = pd.crosstab(predictions["actual"], predictions["predicted"])
    return table.reindex(index=digits, columns=digits, fill_value=0)


def confusion_figure(predictions: pd.DataFrame) -> Figure:
    figure, axes = plt.subplots(figsize=(7.5, 6.5))
    sns.heatmap(
        confusion_counts(predictions),
        annot=True,
        fmt="d",
        cmap="Blues",
        cbar=False,
        linewidths=0.5,
        annot_kws={"size": 8},
        ax=axes,
    )
    axes.set(
        xlabel="predicted digit",
        ylabel="true digit",
        title=f"Confusion matrix, {len(predictions)} test images",
    )
    figure.tight_layout()
    return figure


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


def digit_grid_figure(
    images, titles: list[str], captions: list[str], colours: list[str], title: str
) -> Figure:
    """28x28 digits in a square-ish grid, each framed in its colour, titled and captioned."""
    count = len(titles)
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    figure, grid = plt.subplots(
        rows, columns, figsize=(1.5 * columns, 1.8 * rows + 0.6), squeeze=False
    )
    for index, axes in enumerate(grid.flat):
        axes.set_xticks([])
        axes.set_yticks([])
        if index >= count:
            axes.axis("off")
            continue
        axes.imshow(images[index], cmap="gray_r", vmin=0, vmax=255)  # uint8 pixels
        axes.set_title(titles[index], color=colours[index], fontsize=10)
        axes.set_xlabel(captions[index], fontsize=8, labelpad=2)
        for spine in axes.spines.values():  # a coloured frame marks the outcome at a glance
            spine.set(color=colours[index], linewidth=2)
    if count == 0:
        grid[0, 0].axis("on")
        grid[0, 0].text(0.5, 0.5, "none", ha="center", va="center")
    # Wrapped to the figure's width: one or two digits make a narrow figure.
    figure.suptitle(
        textwrap.fill(title, width=max(16, round(columns * TITLE_CHARACTERS_PER_DIGIT)))
    )
    figure.tight_layout()
    return figure


def save_figure(figure: Figure, path: Path) -> None:
    # No timestamp in the PNG, so the same data gives the same bytes.
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)


def markdown_report(
    summary: dict, per_class: list[dict], history: pd.DataFrame, images: dict[str, str]
) -> str:
    last = history.iloc[-1]
    lines = [
        "# MNIST test report",
        "",
        f"Test accuracy **{summary['accuracy']:.4f}**, loss {summary['loss']:.4f}, after "
        f"{len(history)} epochs (final validation accuracy {last['val_accuracy']:.4f}).",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {name} | {value:.4f} |" for name, value in summary.items()),
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
        *(f"![{title}]({name})\n" for name, title in images.items()),
    ]
    return "\n".join(lines)
