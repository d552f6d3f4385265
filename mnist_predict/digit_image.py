"""A photo or scan of one handwritten digit, normalised the way MNIST was made.

MNIST digits are light ink on black, the ink's bounding box scaled to fit
20x20 pixels (aspect kept, anti-aliased), pasted into 28x28 so that the
centre of mass is the centre. ``normalise_digit`` does the same to any image
a user has: any size, colour mode, polarity, position or stroke width; and
what phones and scanners add: uneven light and shadows, ruled or squared
paper, stray marks, a small digit on a large page.
"""

import numpy as np
from PIL import ExifTags, Image, ImageFilter, ImageOps

from mnist_pipeline.dataset import IMAGE_SHAPE

MNIST_SIZE = IMAGE_SHAPE[0]
DIGIT_BOX = 20  # the longer side of the ink's bounding box, in MNIST
MIN_CONTRAST = 40  # grey levels between paper and ink below which there is no ink
INK_LEVEL = 0.3  # of the ink's peak: what counts as ink when finding the digit
WORKING_SIZE = 2048  # larger images are shrunk first; a digit needs no more detail
ANALYSIS_SIZE = 128  # the ink is found on the image shrunk to this (longer side)
MIN_DETAIL = DIGIT_BOX + 4  # a digit found smaller is looked at again, cropped, in full detail
PAPER_CELLS = 12  # cells per side over which the paper's brightness is estimated
LINE_COVER = 0.8  # ink across this share of a row or column is a ruled line, not a digit
LINE_DARKNESS = 0.05  # darker than the paper by this share: maybe a line
NEARBY = 0.3  # of the digit's size: pieces of ink this far from it belong to it
PIECE_INK = 0.15  # of the digit's ink: a piece this large is a broken stroke, not a mark ...
PIECE_REACH = 0.6  # ... and belongs to the digit from this far (of its size)
MNIST_STROKE = 0.09  # MNIST's median stroke width, as a share of the digit's longer side
WIDEST_STROKE = 2 * MNIST_STROKE  # wider strokes (a marker's) are thinned to this


class NoInkError(ValueError):
    def __init__(self):
        super().__init__("no ink found: the image is blank or has too little contrast")


def normalise_digit(image: Image.Image | np.ndarray) -> np.ndarray:
    """Any digit image -> uint8 (28, 28), ink bright on black, as MNIST."""
    page = _to_grayscale(image)
    ink, box = _find_digit(page)
    if _side(box) < MIN_DETAIL and max(page.size) > ANALYSIS_SIZE:
        # A small digit on a large page: find it again at full detail, in its own window.
        ink, box = _find_digit(page.crop(_around(box, ink.shape, page.size)))
    return _centre_by_mass(_fit_box(_thinned(ink[box])))


def _find_digit(page: Image.Image) -> tuple[np.ndarray, tuple[slice, slice]]:
    """The page's ink (0..255, paper 0) at analysis size, and the digit's box in it."""
    scale = ANALYSIS_SIZE / max(page.size)
    if scale < 1:
        size = (max(1, round(page.width * scale)), max(1, round(page.height * scale)))
        # Pillow's integer reduce first: the same box average, several times faster.
        page = page.reduce(int(1 / scale)).resize(size, Image.Resampling.BOX)
    ink = _ink_intensity(np.asarray(page, dtype=np.float32))
    return ink, _digit_box(ink)


def _thinned(ink: np.ndarray) -> np.ndarray:
    """A marker's strokes thinned toward MNIST's width, which the model learnt digits in."""
    excess = _stroke_width(ink >= 128) - WIDEST_STROKE * max(ink.shape)
    size = 2 * round(excess / 2) + 1  # each side of a stroke loses (size - 1) / 2
    if size < 3:
        return ink
    # Ink is bright here: the least ink in each window is the eroded stroke.
    eroded = Image.fromarray(ink.astype(np.uint8)).filter(ImageFilter.MinFilter(size))
    thinned = np.asarray(eroded, np.float32)
    # Cropped again: the strokes' outer edges moved in, and the digit must still fill the box.
    rows, columns = (np.flatnonzero(thinned.max(axis=axis)) for axis in (1, 0))
    if not len(rows):  # nothing left (never so for a digit's strokes): keep them as they were
        return ink
    return thinned[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]


def _stroke_width(inked: np.ndarray) -> float:
    """Twice the inked area over the outline's length: a long stroke's width."""
    inside = np.count_nonzero(inked[:, 1:] != inked[:, :-1]) + np.count_nonzero(
        inked[1:] != inked[:-1]
    )
    # Ink on the crop's edge is outline too (the paper beyond it was cropped away).
    edges = sum(np.count_nonzero(edge) for edge in (inked[0], inked[-1], inked[:, 0], inked[:, -1]))
    return 2 * np.count_nonzero(inked) / max(inside + edges, 1)


def _side(box: tuple[slice, slice]) -> int:
    return max(axis.stop - axis.start for axis in box)


def _around(box: tuple[slice, slice], analysed: tuple[int, int], size: tuple[int, int]):
    """The box on the full page (left, top, right, bottom), widened by its size on every side."""
    scale = size[1] / analysed[0]
    side = _side(box)
    rows, columns = box
    return (
        max(0, round((columns.start - side) * scale)),
        max(0, round((rows.start - side) * scale)),
        min(size[0], round((columns.stop + side) * scale)),
        min(size[1], round((rows.stop + side) * scale)),
    )


def _to_grayscale(image: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(_as_uint8(image))
    # Upright first: laying the image on white below makes a new image, without its EXIF.
    if image.getexif().get(ExifTags.Base.Orientation, 1) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels are paper: lay the image on white.
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    gray = image if image.mode == "L" else _to_8bit(image)  # never changed in place below
    if max(gray.size) > WORKING_SIZE:
        gray = gray.copy()
        gray.thumbnail((WORKING_SIZE, WORKING_SIZE), Image.Resampling.BOX)
    return gray


def _to_8bit(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I") or image.mode == "F":
        # 16- and 32-bit greys: Pillow's convert("L") would clip them, not rescale.
        values = np.asarray(image, dtype=np.float64)
        full_scale = 65535.0 if values.max(initial=0) <= 65535 else values.max()
        return Image.fromarray(_as_uint8(values * (255.0 / full_scale)))
    return image.convert("L")


def _as_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating) and array.size and array.max() <= 1.0:
        array = array * 255  # floats in [0, 1]
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


def _ink_intensity(gray: np.ndarray) -> np.ndarray:
    """How much ink each pixel holds, 0 (paper) .. 255 (darkest ink), whatever the polarity.

    Ink is measured against the paper around it, not one background level, so
    uneven light and shadows cancel out; full-length ruled lines are taken away.
    """
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if _median(border) <= 127:  # light ink on dark paper: make the ink dark
        gray = 255 - gray
    paper = _paper_brightness(gray)
    if float((paper - gray).max(initial=0)) < MIN_CONTRAST:
        raise NoInkError
    darkness = _without_lines(np.clip(1 - gray / np.maximum(paper, 1), 0, 1))
    return darkness * (255.0 / max(float(darkness.max()), 1e-6))


def _median(values: np.ndarray) -> float:
    """np.median's value, without the import of numpy.ma that np.median makes (slow to load)."""
    ordered = np.sort(values)
    return float(ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2


def _paper_brightness(gray: np.ndarray) -> np.ndarray:
    """The paper's brightness under each pixel: the brightest pixel of nearby cells, smoothed.

    Cells a few strokes wide always hold some paper, and a neighbouring cell's
    paper fills in a cell that a thick stroke covers.
    """
    cell = max(2, -(-max(gray.shape) // PAPER_CELLS))
    rows, columns = max(1, gray.shape[0] // cell), max(1, gray.shape[1] // cell)
    # Whole cells only; the last partial row and column of pixels are covered by the
    # neighbouring cells once the estimate is stretched over the image.
    whole = gray[: rows * cell, : columns * cell]
    height, width = whole.shape[0] // rows, whole.shape[1] // columns
    # Rows of cells first, then columns: contiguous reductions, far faster than both at once.
    brightest = whole.reshape(rows, height, -1).max(axis=1).reshape(rows, columns, width).max(2)
    # Each cell's brightest over itself and the eight cells around it (edges repeated).
    neighbours = Image.fromarray(brightest, mode="F").filter(ImageFilter.MaxFilter(3))
    smooth = neighbours.resize((gray.shape[1], gray.shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(smooth)


def _without_lines(darkness: np.ndarray) -> np.ndarray:
    """Take away rows and columns inked almost end to end: ruled or squared paper.

    A row's darkness at its (1 - LINE_COVER) quantile is what a line adds to it;
    in a row a digit crosses, that quantile is paper, so the digit stays.
    """
    inked = darkness > LINE_DARKNESS
    for axis in (0, 1):
        if inked.mean(axis=axis).max(initial=0) < LINE_COVER:
            continue  # no line here: skip the costlier quantile
        length = darkness.shape[axis]
        low = int((1 - LINE_COVER) * (length - 1))
        line = np.partition(darkness, low, axis=axis).take([low], axis=axis)
        darkness = np.clip(darkness - line, 0, None)
    return darkness


def _digit_box(ink: np.ndarray) -> tuple[slice, slice]:
    """The digit's bounding box, leaving out stray marks away from it.

    Across the columns, then the rows of those columns, the ink falls into
    runs separated by blank lines. The digit is the run with the most ink,
    with every run near it (a 5's bar, a broken stroke); runs farther away are
    marks, dust or the edge of another digit.
    """
    inked = ink >= INK_LEVEL * 255
    if not inked.any():  # taking lines away can leave nothing
        raise NoInkError
    columns = _digit_span(ink, inked, axis=0)
    rows = _digit_span(ink[:, columns], inked[:, columns], axis=1)
    return rows, columns


def _digit_span(ink: np.ndarray, inked: np.ndarray, axis: int) -> slice:
    """Along the other axis: the run of inked lines that holds the most ink, and runs near it."""
    if axis == 1:  # rows: the same as columns of the transposed image
        ink, inked = ink.T, inked.T
    lines = inked.any(axis=0)
    edges = np.flatnonzero(np.diff(np.concatenate([[False], lines, [False]]).astype(np.int8)))
    runs = list(zip(edges[::2], edges[1::2], strict=True))  # [start, stop) of each run
    ink_per_line = ink.sum(axis=0)
    masses = [float(ink_per_line[start:stop].sum()) for start, stop in runs]
    main = int(np.argmax(masses))
    start, stop = runs[main]
    across = np.flatnonzero(inked[:, start:stop].any(axis=1))
    size = max(stop - start, np.ptp(across) + 1)

    def belongs(gap: int, mass: float) -> bool:
        # A mark is small; a piece of a broken stroke (a pencil's) holds real ink.
        reach = PIECE_REACH if mass >= PIECE_INK * masses[main] else NEARBY
        return gap <= reach * size

    for (near_start, near_stop), mass in zip(runs[main + 1 :], masses[main + 1 :], strict=True):
        if not belongs(near_start - stop, mass):
            break
        stop = near_stop
    for (near_start, near_stop), mass in zip(runs[:main][::-1], masses[:main][::-1], strict=True):
        if not belongs(start - near_stop, mass):
            break
        start = near_start
    return slice(int(start), int(stop))


def _resized(image: np.ndarray, scale: float) -> np.ndarray:
    height, width = image.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(image.astype(np.float32), mode="F").resize(
        size, Image.Resampling.LANCZOS
    )
    return np.clip(np.asarray(resized), 0, 255)


def _fit_box(cropped: np.ndarray) -> np.ndarray:
    """Scale so the longer side is 20 pixels, keeping the aspect ratio, with anti-aliasing."""
    return _resized(cropped, DIGIT_BOX / max(cropped.shape))


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Paste into 28x28 with the ink's centre of mass at the centre, as MNIST did."""
    rows, columns = np.indices(digit.shape)
    total = digit.sum()
    centre_row = (rows * digit).sum() / total
    centre_column = (columns * digit).sum() / total
    top = round(MNIST_SIZE / 2 - centre_row)
    left = round(MNIST_SIZE / 2 - centre_column)
    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    _paste(canvas, digit, top, left)
    # MNIST's darkest ink is 255: the anti-aliased resize may have dimmed it.
    return np.rint(canvas * (255 / max(float(canvas.max()), 1e-6))).astype(np.uint8)


def _paste(canvas: np.ndarray, patch: np.ndarray, top: int, left: int) -> None:
    # Clip to the canvas: a lopsided digit's mass centre can push an edge off it.
    top, left = (
        min(max(top, 0), MNIST_SIZE - patch.shape[0]),
        min(max(left, 0), MNIST_SIZE - patch.shape[1]),
    )
    canvas[top : top + patch.shape[0], left : left + patch.shape[1]] = patch
