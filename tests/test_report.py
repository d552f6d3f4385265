"""The report's figures, checked from the data they draw, not from screenshots."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from mnist_pipeline.figures import save_figure
from mnist_pipeline.report import confusion_figure

CORRECT_PER_DIGIT = 1000  # the diagonal: ~100 times any error count, as on MNIST
ERRORS = {(2, 7): 7, (3, 5): 3, (9, 4): 1}  # (true, predicted): how many


def predictions_with(errors: dict[tuple[int, int], int]) -> pd.DataFrame:
    rows = [(digit, digit) for digit in range(10) for _ in range(CORRECT_PER_DIGIT)]
    rows += [pair for pair, count in errors.items() for _ in range(count)]
    return pd.DataFrame(rows, columns=["actual", "predicted"])


@pytest.fixture
def figure():
    figure = confusion_figure(predictions_with(ERRORS))
    yield figure
    plt.close(figure)


def cell_colours(image) -> np.ndarray:
    """Each cell's RGBA as drawn: masked cells get the colour map's 'bad' colour."""
    return image.to_rgba(image.get_array(), norm=True)


def cell_texts(axes) -> dict[tuple[int, int], str]:
    """Annotations by (row, column): a cell's text sits at its (column, row) centre."""
    return {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in axes.texts
    }


def test_errors_have_their_own_scale_from_zero_to_the_largest(figure):
    error_image = figure.axes[0].images[1]  # drawn over the diagonal's grey
    assert (error_image.norm.vmin, error_image.norm.vmax) == (0, 7)
    drawn = ~np.ma.getmaskarray(error_image.get_array())
    assert {tuple(cell) for cell in np.argwhere(drawn)} == set(ERRORS)
    assert figure.axes[1].get_ylabel() == "misclassified images"  # the colour bar


def test_error_colours_differ_clearly_from_each_other_and_from_blank(figure):
    axes = figure.axes[0]
    colours = cell_colours(axes.images[1])
    seven, one, zero = colours[2, 7], colours[9, 4], colours[0, 1]
    assert zero[3] == 0  # transparent: the white axes behind shows, a blank cell
    assert to_rgba(axes.get_facecolor()) == to_rgba("white")
    white = np.array(to_rgba("white"))
    assert np.abs(one - white)[:3].max() > 0.2  # one error is visible, not near-white
    assert np.abs(seven - one)[:3].max() > 0.4  # seven reads as clearly more than one
    assert seven[:3].sum() < colours[3, 5][:3].sum() < one[:3].sum()  # darker with more errors


def test_the_diagonal_is_one_grey_off_the_error_scale(figure):
    correct_image, error_image = figure.axes[0].images
    diagonal = np.eye(10, dtype=bool)
    assert np.ma.getmaskarray(error_image.get_array())[diagonal].all()
    colours = cell_colours(correct_image)[diagonal]
    assert (colours == colours[0]).all()  # every digit the same grey, whatever its count
    assert np.ptp(colours[0][:3]) < 0.1 and colours[0][3] == 1  # opaque and neutral


def test_only_errors_and_the_diagonal_are_annotated(figure):
    texts = cell_texts(figure.axes[0])
    assert {cell: texts[cell] for cell in ERRORS} == {
        cell: str(count) for cell, count in ERRORS.items()
    }
    assert texts[(2, 2)] == "1000\n99.3%"  # 1000 of 1007 twos
    assert texts[(0, 0)] == "1000\n100.0%"
    assert len(texts) == 10 + len(ERRORS)  # zero-error cells stay blank


def test_the_title_counts_images_and_errors(figure):
    title = figure.axes[0].get_title()
    assert "10011 test images, 11 misclassified" in title


def test_perfect_predictions_draw_without_errors():
    figure = confusion_figure(predictions_with({}))
    assert np.ma.getmaskarray(figure.axes[0].images[1].get_array()).all()
    assert "0 misclassified" in figure.axes[0].get_title()
    plt.close(figure)


def test_the_same_predictions_give_the_same_png_bytes(tmp_path):
    for name in ("first.png", "second.png"):
        save_figure(confusion_figure(predictions_with(ERRORS)), tmp_path / name)
    assert (tmp_path / "first.png").read_bytes() == (tmp_path / "second.png").read_bytes()
