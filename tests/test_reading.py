"""Decoding image files into digits: plain PNGs by libspng, every other file by Pillow."""

import io

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

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


XMP_TURNED = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
    ' xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
)


def turned_by_exif(image: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view
    return png_bytes(image, exif=exif)


def turned_by_xmp(image: Image.Image) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP_TURNED)
    return png_bytes(image, pnginfo=info)


@pytest.mark.parametrize("turned", [turned_by_exif, turned_by_xmp])
def test_a_png_that_says_it_is_turned_is_read_upright(tiny_mnist, libspng_calls, turned):
    upright = as_photo(tiny_mnist.x_test[3], mode="RGB")
    data = turned(upright.transpose(Image.Transpose.ROTATE_90))
    np.testing.assert_array_equal(read_digit(io.BytesIO(data)), normalise_digit(upright))
    assert libspng_calls == []


def test_a_png_from_a_stream_that_cannot_seek_is_read(tiny_mnist, libspng_calls):
    data = png_bytes(as_photo(tiny_mnist.x_test[6], mode="L"))

    class Unseekable(io.RawIOBase):
        def __init__(self):
            self.source = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            chunk = self.source.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    np.testing.assert_array_equal(read_digit(Unseekable()), by_pillow(data))
    assert libspng_calls == ["L"]


@pytest.mark.parametrize("cut", [0.3, 0.9])
def test_a_truncated_plain_png_is_one_clear_error(tiny_mnist, libspng_calls, cut):
    data = png_bytes(as_photo(tiny_mnist.x_test[1], mode="L"))
    with pytest.raises(BadImageError, match="truncated or corrupt image"):
        read_digit(io.BytesIO(data[: int(len(data) * cut)]))
    assert libspng_calls == ["L"]  # the header was whole: libspng found the damage
