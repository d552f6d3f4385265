"""Image files and uploads decoded into normalised digits, or the reason each one cannot be.

One file's problem (empty, not an image, corrupt, a decompression bomb, no ink)
is a ``BadImageError`` with a one-line reason; the others are still read.
Many files are read on every core (``reading``).
"""

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyspng
from PIL import Image, UnidentifiedImageError

from mnist_pipeline.errors import os_reason
from mnist_predict.digit_image import NoInkError, normalise_digit

MAX_PIXELS = 40_000_000  # larger is almost surely a decompression bomb, not a digit
# PNG modes libspng decodes to the same pixels as Pillow: grey of 8 bits or fewer, and colour
# of 8 or 16 bits (both keep a 16-bit sample's high byte). Transparency, palettes, 16-bit
# grey and anything else stay with Pillow.
FAST_PNG_MODES = ("L", "RGB")
# Where a PNG can say how to turn the image (Pillow's getexif reads all three): such a file
# goes to Pillow, since normalise_digit turns the image by Pillow's EXIF.
ORIENTATION_CARRIERS = (b"eXIf", b"Raw profile type exif", b"XML:com.adobe.xmp")
PARALLEL_FROM = 64  # fewer images are read sooner in this process than workers start


class BadImageError(Exception):
    """This file cannot be predicted; the others still are."""


def load_digit(path: Path) -> np.ndarray:
    """Read one image file and normalise it; BadImageError says what is wrong with it."""
    if path.stat().st_size == 0:
        raise BadImageError("empty file")
    try:
        file = path.open("rb")
    except OSError as error:
        raise BadImageError(f"cannot read: {os_reason(error)}") from None
    with file:
        return read_digit(file)


def read_digit(file: BinaryIO) -> np.ndarray:
    """Decode one image (a file, or an upload's bytes) and normalise it, or say what is wrong."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                _check_size(image)
                return normalise_digit(_decoded(image))
    except UnidentifiedImageError:
        raise BadImageError("not an image (Pillow cannot identify it)") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise BadImageError(f"too many pixels (at most {MAX_PIXELS:,})") from None
    except NoInkError as error:
        raise BadImageError(str(error)) from None
    except (OSError, SyntaxError, ValueError, RuntimeError) as error:  # RuntimeError: libspng's
        raise BadImageError(f"truncated or corrupt image ({error})") from None


def _decoded(image: Image.Image) -> Image.Image:
    """The image's pixels, decoded: a plain PNG by libspng, the rest by Pillow.

    Decoding is the largest single cost of reading a digit, and libspng decodes
    PNG, the usual format of a saved or drawn digit, about twice as fast as
    Pillow (bench/decoders.py). Only the header has been read so far, from
    ``image.fp``: the file, or Pillow's seekable copy of a stream.
    """
    if image.format == "PNG" and image.mode in FAST_PNG_MODES and "transparency" not in image.info:
        image.fp.seek(0)
        data = image.fp.read()
        if not any(carrier in data for carrier in ORIENTATION_CARRIERS):
            return Image.fromarray(pyspng.load(data, image.mode))
    image.load()
    return image


def _check_size(image: Image.Image) -> None:
    # The header gives the size before any pixel is decoded.
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise BadImageError(f"{width}x{height} is too many pixels (at most {MAX_PIXELS:,})")


def load_all(files: list[Path]) -> list[np.ndarray | str]:
    """Each file's digit, or why it cannot be read; many files on every core."""
    with reading(files) as digits:
        return list(digits)


@contextmanager
def reading(files: list[Path]) -> Iterator[Iterator[np.ndarray | str]]:
    """Each file's digit or reason, in order, read while the caller does other work.

    Decoding and normalising is Python and NumPy work that threads would
    serialise, so a large batch goes to worker processes, which start reading
    at once: the caller loads the model meanwhile. They are forked (Linux): a
    fork starts in milliseconds with everything imported, where a fresh
    interpreter (macOS, Windows) would take longer to start than it saves.
    Fewer files are read in this process, as the caller takes them.
    """
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if workers < 2 or len(files) < PARALLEL_FROM or sys.platform != "linux":
        yield map(digit_or_reason, files)
        return
    # Imported here: a few images, the usual call, never need them.
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    pool = ProcessPoolExecutor(workers, mp_context=get_context("fork"))
    try:
        yield pool.map(digit_or_reason, files, chunksize=16)
    finally:
        pool.shutdown(cancel_futures=True)  # on an error, what is not read yet never is


def digit_or_reason(path: Path) -> np.ndarray | str:
    """One file's digit, or the reason it cannot be read: what ``reading`` yields for it."""
    try:
        return load_digit(path)
    except BadImageError as error:
        return str(error)
