"""PNG decoders against Pillow on the font digits of bench/predict_fonts.py: decodes/s.

mnist-predict decodes plain PNGs with libspng (pyspng, a dependency) and every
other file with Pillow. Other decoders are measured on the same files where
they are installed (OpenCV is not a dependency):

    uv pip install --target /tmp/decoders opencv-python-headless
    python bench/decoders.py --extra /tmp/decoders

It also prints the share of decoding in reading a digit (decode with libspng,
then normalise), which bounds what a faster decoder could still save.
"""

import argparse
import importlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyspng
from PIL import Image
from predict_fonts import make_images

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mnist_predict.reading import read_digit


def pillow(data: bytes):
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image


def decoders() -> dict:
    found = {"Pillow": pillow, "pyspng (libspng)": pyspng.load}
    if importlib.util.find_spec("cv2"):
        import cv2

        found["OpenCV"] = lambda data: cv2.imdecode(np.frombuffer(data, np.uint8), -1)
    return found


def per_second(function, blobs: list[bytes], rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for data in blobs:
            function(data)
        best = min(best, time.perf_counter() - started)
    return len(blobs) / best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-digit", type=int, default=30)
    parser.add_argument("--extra", help="a folder of decoders installed outside the project")
    args = parser.parse_args()
    if args.extra:
        sys.path.append(args.extra)  # after the project's own packages: its numpy wins
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        make_images(folder, args.per_digit, seed=0)
        blobs = [path.read_bytes() for path in sorted(folder.glob("*.png"))]
    print(f"{len(blobs)} PNG files of font digits")
    for name, decode in decoders().items():
        print(f"  {name:<18} {per_second(decode, blobs):>7.0f} decodes/s")
    reads = per_second(lambda data: read_digit(io.BytesIO(data)), blobs)
    decode_share = reads / per_second(pyspng.load, blobs)
    print(f"  decode and normalise {reads:>5.0f} digits/s: decoding is {decode_share:.0%} of it")


if __name__ == "__main__":
    main()
