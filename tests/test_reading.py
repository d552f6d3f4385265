"""Decoding image files into digits: plain PNGs by libspng, every other file by Pillow."""

import io

import numpy as np
import pytest
from PIL import Image

from mnist_predict import reading
from mnist_predict.digit_image import normalise_digit
from mnist_predict.reading import BadImageError, read_digit
from tests.conftest import as_photo


def png_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def by_pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return normalise_digit(image)


@pytest.fixture
def libspng_calls(monkeypatch) -> list[str]:
    """The modes libspng is asked to decode, while it still decodes."""
    calls, load = [], reading.pyspng.load

    def spy(data: bytes, mode: str) -> np.ndarray:
        calls.append(mode)
        return load(data, mode)

    monkeypatch.setattr(reading.pyspng, "load", spy)
    return calls


@pytest.mark.parametrize(
    "mode, fast", [("L", True), ("RGB", True), ("1", False), ("P", False), ("LA", False),
                   ("RGBA", False), ("I;16", False)],
)  # fmt: skip
def test_every_png_mode_reads_as_pillow_decodes_it(tiny_mnist, libspng_calls, mode, fast):
    photo = as_photo(tiny_mnist.x_test[2], mode="RGB")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257)
    else:
        image = photo.convert(mode)
    data = png_bytes(image)
    np.testing.assert_array_equal(read_digit(io.BytesIO(data)), by_pillow(data))
    assert libspng_calls == ([mode] if fast else [])


def test_a_transparent_grey_png_is_left_to_pillow(tiny_mnist, libspng_calls):
    data = png_bytes(as_photo(tiny_mnist.x_test[4], mode="L"), transparency=255)
    np.testing.assert_array_equal(read_digit(io.BytesIO(data)), by_pillow(data))
    assert libspng_calls == []


def test_a_png_turned_by_its_exif_is_read_upright(tiny_mnist, libspng_calls):
    upright = as_photo(tiny_mnist.x_test[3], mode="RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view
    data = png_bytes(upright.transpose(Image.Transpose.ROTATE_90), exif=exif)
    np.testing.assert_array_equal(read_digit(io.BytesIO(data)), normalise_digit(upright))
    assert libspng_calls == []


@pytest.mark.parametrize("cut", [0.3, 0.9])
def test_a_truncated_plain_png_is_one_clear_error(tiny_mnist, cut):
    data = png_bytes(as_photo(tiny_mnist.x_test[1], mode="L"))
    with pytest.raises(BadImageError, match="truncated or corrupt image"):
        read_digit(io.BytesIO(data[: int(len(data) * cut)]))
