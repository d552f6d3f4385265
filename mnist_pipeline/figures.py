"""Figures of 28x28 digits, and saving any figure byte-stable: matplotlib alone.

The report draws its test-image grids here, and ``mnist-predict --grid`` its
inputs as the model saw them; neither grid needs the report's data tools.
"""

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

CORRECT_COLOUR, WRONG_COLOUR, UNSURE_COLOUR = "#1a7f37", "#cf222e", "#bf8700"
TITLE_CHARACTERS_PER_DIGIT = 13  # a grid title's characters that fit over one 1.5-inch digit


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
