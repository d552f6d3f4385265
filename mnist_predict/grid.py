"""``--grid``: a PNG of each input as the model saw it, titled with what it read.

matplotlib takes a while to import, so it loads only when a grid is drawn;
the path is checked before any work is done.
"""

from pathlib import Path

import numpy as np

from mnist_pipeline.atomic import atomic_path
from mnist_pipeline.errors import PipelineError
from mnist_predict.prediction import Prediction

SURE = 0.9  # the grid marks predictions below this probability


def check_grid_path(path: Path) -> None:
    """Refuse a --grid that would lose data or cannot be a PNG, before any work is done."""
    if path.is_dir():
        raise PipelineError(f"--grid {path}: is a folder; expected a file name ending in .png")
    if path.suffix.lower() != ".png":
        raise PipelineError(f"--grid {path}: expected a file name ending in .png")


def save_grid(path: Path, rows: list[tuple[Path, Prediction]], pixels: np.ndarray) -> None:
    """Each row's normalised digit (``pixels``, in order), its reading and its file name."""
    from mnist_pipeline.figures import (  # matplotlib: only when a grid is asked for
        CORRECT_COLOUR,
        UNSURE_COLOUR,
        digit_grid_figure,
        save_figure,
    )

    figure = digit_grid_figure(
        pixels,
        titles=[f"{p.digit} ({p.probability:.0%})" for _, p in rows],
        captions=[_shorten(source.name) for source, _ in rows],
        colours=[CORRECT_COLOUR if p.probability >= SURE else UNSURE_COLOUR for _, p in rows],
        title=f"What the model saw, and what it read (amber: under {SURE:.0%} sure)",
    )
    with atomic_path(path) as temporary:
        save_figure(figure, temporary)


def _shorten(name: str, limit: int = 16) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
