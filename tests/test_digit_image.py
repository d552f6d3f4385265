"""MNIST-style normalisation of a user's digit image."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_predict.digit_image import NoInkError, normalise_digit
from tests.conftest import as_photo
from tests.photos import ruled_paper, stray_marks, uneven_light


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def test_output_is_mnist_shaped_bright_ink_on_black(tiny_mnist):
    digit = normalise_digit(tiny_mnist.x_test[0])
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert digit.max() == 255 and np.median(digit) == 0


def test_the_ink_fits_a_20_pixel_box_centred_by_mass(tiny_mnist):
    digit = normalise_digit(as_photo(tiny_mnist.x_test[3]))
    rows, columns = np.nonzero(digit > 30)
    assert max(np.ptp(rows), np.ptp(columns)) + 1 <= 21
    weights = digit.astype(float) / digit.sum()
    centre = (np.indices(digit.shape) * weights).sum(axis=(1, 2))
    np.testing.assert_allclose(centre, [14, 14], atol=0.75)


@pytest.mark.parametrize("index", range(0, 60, 6))
def test_a_photo_of_a_digit_normalises_back_to_nearly_the_digit(tiny_mnist, index):
    original = normalise_digit(tiny_mnist.x_test[index])
    photo = as_photo(tiny_mnist.x_test[index])
    assert similarity(normalise_digit(photo), original) > 0.9


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "LA", "I;16", "1"])
def test_every_colour_mode_gives_the_same_digit(tiny_mnist, mode):
    photo = as_photo(tiny_mnist.x_test[5], invert=True, mode="RGB")
    reference = normalise_digit(photo)
    if mode == "I;16":  # a 16-bit grey PNG, as some scanners write
        converted = Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257)
        assert converted.mode == "I;16"
    else:
        converted = photo.convert(mode)
    assert similarity(normalise_digit(converted), reference) > 0.9


def test_transparent_background_counts_as_paper(tiny_mnist):
    ink = np.asarray(as_photo(tiny_mnist.x_test[7], invert=False, mode="L"))
    rgba = np.zeros((*ink.shape, 4), np.uint8)
    rgba[..., 3] = ink  # black ink, opaque only where the stroke is
    reference = normalise_digit(as_photo(tiny_mnist.x_test[7]))
    assert similarity(normalise_digit(Image.fromarray(rgba, "RGBA")), reference) > 0.9


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_exif_orientation_is_applied_with_or_without_transparency(tiny_mnist, mode, tmp_path):
    upright = as_photo(tiny_mnist.x_test[3], mode=mode)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a phone stores a turned shot
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view
    path = tmp_path / "photo.png"
    stored.save(path, exif=exif)
    with Image.open(path) as image:
        assert similarity(normalise_digit(image), normalise_digit(upright)) > 0.95


def test_light_ink_on_dark_is_not_inverted(tiny_mnist):
    dark_paper = as_photo(tiny_mnist.x_test[9], invert=False)
    light_paper = as_photo(tiny_mnist.x_test[9], invert=True)
    assert similarity(normalise_digit(dark_paper), normalise_digit(light_paper)) > 0.98


def test_float_arrays_in_unit_range_are_accepted(tiny_mnist):
    digit = tiny_mnist.x_test[11]
    np.testing.assert_array_equal(normalise_digit(digit / 255.0), normalise_digit(digit))


def test_thick_and_thin_strokes_both_normalise():
    canvas = Image.new("L", (200, 300), 255)
    from PIL import ImageDraw

    for width in (3, 30):
        page = canvas.copy()
        ImageDraw.Draw(page).line([(100, 30), (100, 270)], fill=0, width=width)  # a "1"
        digit = normalise_digit(page)
        rows, _ = np.nonzero(digit > 30)
        assert np.ptp(rows) + 1 == 20  # the long side is 20 pixels whatever the stroke


@pytest.mark.parametrize("level", [0, 255, 128])
def test_a_blank_image_has_no_ink(level):
    with pytest.raises(NoInkError, match="no ink found"):
        normalise_digit(np.full((50, 40), level, np.uint8))


PHOTO_EFFECTS = {
    "uneven light and a shadow": uneven_light,
    "ruled paper": ruled_paper,
    "squared paper": lambda page, rng: ruled_paper(page, rng, squared=True),
    "stray marks": stray_marks,
}


@pytest.mark.parametrize("effect", PHOTO_EFFECTS)
@pytest.mark.parametrize("index", [0, 9, 17])
def test_what_phones_and_paper_add_is_taken_away(tiny_mnist, effect, index):
    photo = np.asarray(as_photo(tiny_mnist.x_test[index], mode="L"), dtype=np.float32)
    changed = PHOTO_EFFECTS[effect](photo, np.random.default_rng(index))
    clean = normalise_digit(Image.fromarray(photo.astype(np.uint8)))
    assert similarity(normalise_digit(Image.fromarray(changed.astype(np.uint8))), clean) > 0.85


def test_a_small_digit_on_a_large_page_is_found_and_read_in_full_detail(tiny_mnist):
    digit = as_photo(tiny_mnist.x_test[4], scale=2, canvas=56, shift=(0, 0), mode="L")
    page = Image.new("L", (1600, 1200), 255)
    page.paste(digit, (1100, 300))
    original = normalise_digit(tiny_mnist.x_test[4])
    assert similarity(normalise_digit(page), original) > 0.9


def test_light_ink_on_a_dark_unevenly_lit_board_is_read(tiny_mnist):
    chalk = np.asarray(as_photo(tiny_mnist.x_test[2], invert=False, mode="L"), dtype=np.float32)
    board = uneven_light(chalk * 0.8 + 30, np.random.default_rng(0))
    original = normalise_digit(tiny_mnist.x_test[2])
    assert similarity(normalise_digit(board), original) > 0.85


def ring_page(gap: int = 0, dot_below: int | None = None) -> Image.Image:
    """A pen-drawn 0, 150 pixels tall, on white; ``gap`` rows across its middle left blank."""
    page = Image.new("L", (300, 360), 255)
    draw = ImageDraw.Draw(page)
    draw.ellipse([100, 60, 200, 210], outline=0, width=8)
    if gap:
        draw.rectangle([0, 135 - gap // 2, 300, 135 + gap // 2], fill=255)
    if dot_below is not None:
        draw.ellipse([146, 210 + dot_below - 4, 154, 210 + dot_below + 4], fill=0)
    return page


def ink_rows(digit: np.ndarray) -> int:
    rows = np.flatnonzero(digit.max(axis=1) > 0)
    return int(rows[-1] - rows[0] + 1)


def test_a_digit_broken_into_pieces_is_read_whole():
    # A faint pencil breaks strokes: a gap of 30% of the digit's height between its halves.
    broken = normalise_digit(ring_page(gap=45))
    assert ink_rows(broken) >= 19  # both halves: 20 rows tall, not one half scaled to fit
    assert similarity(broken, normalise_digit(ring_page())) > 0.8


def test_a_small_mark_as_far_away_is_still_left_out():
    marked = normalise_digit(ring_page(dot_below=60))
    np.testing.assert_array_equal(marked, normalise_digit(ring_page()))


def drawn_seven(pen_width: int) -> Image.Image:
    """A 7 drawn 300 pixels tall with a pen of ``pen_width``, dark on a white page."""
    page = Image.new("L", (500, 500), 255)
    ImageDraw.Draw(page).line([(150, 100), (330, 100), (210, 400)], fill=0, width=pen_width)
    return page


def stroke_width(digit: np.ndarray) -> float:
    inked = np.pad(digit >= 128, 1)
    outline = np.sum(inked[:, 1:] != inked[:, :-1]) + np.sum(inked[1:] != inked[:-1])
    return 2 * inked.sum() / outline


def test_past_a_markers_width_a_thicker_stroke_is_read_no_thicker():
    """Strokes beyond twice MNIST's width (a third of the digit's height here) are thinned."""
    marker, thicker = (normalise_digit(drawn_seven(width)) for width in (100, 150))
    assert stroke_width(thicker) < stroke_width(marker) + 0.4  # unthinned: 0.8 wider
    assert similarity(thicker, marker) > 0.8
