"""A photo or scan of one handwritten digit, normalised the way MNIST was made.

MNIST digits are light ink on black, the ink's bounding box scaled to fit
20x20 pixels (aspect kept, anti-aliased), pasted into 28x28 so that the
centre of mass is the centre. ``normalise_digit`` does the same to any image
a user has: any size, colour mode, polarity, position or stroke width.
"""

import numpy as np
from PIL import Image, ImageOps

from mnist_pipeline.dataset import IMAGE_SHAPE

MNIST_SIZE = IMAGE_SHAPE[0]
DIGIT_BOX = 20  # the longer side of the ink's bounding box, in MNIST
MIN_CONTRAST = 40  # grey levels between background and ink below which there is no ink
INK_LEVEL = 0.3  # of the ink's peak: what counts as ink when cropping
WORKING_SIZE = 512  # larger images are shrunk first; a digit needs no more detail


class NoInkError(ValueError):
    pass


def normalise_digit(image: Image.Image | np.ndarray) -> np.ndarray:
    """Any digit image -> uint8 (28, 28), ink bright on black, as MNIST."""
    gray = _to_grayscale(image)
    ink = _ink_intensity(gray)
    box = _ink_box(ink)
    return _centre_by_mass(_fit_box(ink[box]))


def _to_grayscale(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(_as_uint8(image))
    # Upright first: laying the image on white below makes a new image, without its EXIF.
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels are paper: lay the image on white.
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    gray = _to_8bit(image)
    if max(gray.size) > WORKING_SIZE:
        gray.thumbnail((WORKING_SIZE, WORKING_SIZE), Image.Resampling.BOX)
    return np.asarray(gray, dtype=np.float32)


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
    """How much ink each pixel holds, 0 (paper) .. 255 (darkest ink), whatever the polarity."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    # Paper lighter than the middle grey means dark ink: flip so ink is bright.
    ink = background - gray if background > 127 else gray - background
    ink = np.clip(ink, 0, None)
    peak = float(ink.max(initial=0))
    if peak < MIN_CONTRAST:
        raise NoInkError("no ink found: the image is blank or has too little contrast")
    return ink * (255.0 / peak)


def _ink_box(ink: np.ndarray) -> tuple[slice, slice]:
    rows, columns = np.nonzero(ink >= INK_LEVEL * 255)
    return slice(rows.min(), rows.max() + 1), slice(columns.min(), columns.max() + 1)


def _fit_box(cropped: np.ndarray) -> np.ndarray:
    """Scale so the longer side is 20 pixels, keeping the aspect ratio, with anti-aliasing."""
    height, width = cropped.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(cropped.astype(np.float32), mode="F").resize(
        size, Image.Resampling.LANCZOS
    )
    return np.clip(np.asarray(resized), 0, 255)


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
    return np.rint(canvas).astype(np.uint8)


def _paste(canvas: np.ndarray, patch: np.ndarray, top: int, left: int) -> None:
    # Clip to the canvas: a lopsided digit's mass centre can push an edge off it.
    top, left = (
        min(max(top, 0), MNIST_SIZE - patch.shape[0]),
        min(max(left, 0), MNIST_SIZE - patch.shape[1]),
    )
    canvas[top : top + patch.shape[0], left : left + patch.shape[1]] = patch
