"""mnist-predict: which digit is in each of your images.

    mnist-predict [--model models/model.onnx] [--top-k K] [--format table|json|csv]
                  [--grid out.png] PATH...
    mnist-predict serve [--host 127.0.0.1] [--port 8000] [--model models/model.onnx]

PATH is an image file or a folder of them. Each image is normalised the way
MNIST was made (see ``digit_image``), so photos and scans of a digit on paper
work as they are. A file that cannot be read is reported on one line and
skipped; the exit status is 1 if any file failed. The exported ONNX model runs
without TensorFlow; a .keras model works too, after TensorFlow's start-up.
``serve`` opens a page to draw digits on (see ``mnist_pipeline.serve``).
"""

import argparse
import csv
import errno
import io
import json
import os
import stat
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from mnist_pipeline.atomic import atomic_path
from mnist_pipeline.classifier import load_classifier
from mnist_pipeline.digit_image import NoInkError, normalise_digit
from mnist_pipeline.errors import PipelineError, os_reason, run_command

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MAX_PIXELS = 40_000_000  # larger is almost surely a decompression bomb, not a digit
DEFAULT_MODEL = Path("models/model.onnx")
SURE = 0.9  # the grid marks predictions below this probability
PARALLEL_FROM = 64  # fewer images are read sooner in this process than workers start


class BadImageError(Exception):
    """This file cannot be predicted; the others still are."""


@dataclass(frozen=True)
class Prediction:
    digit: int
    probability: float
    top_k: list[tuple[int, float]]  # (digit, probability), most likely first


def predict_images(classifier, images, top_k: int = 3) -> list[Prediction]:
    """Predict digits in images of any size or mode (arrays or PIL images).

    ``classifier`` comes from ``mnist_pipeline.classifier.load_classifier``.
    """
    pixels = np.stack([normalise_digit(image) for image in images])
    return predict_pixels(classifier, pixels, top_k)


def predict_pixels(classifier, pixels: np.ndarray, top_k: int = 3) -> list[Prediction]:
    """Predict already-normalised uint8 digits (N, 28, 28)."""
    return [_prediction(row, top_k) for row in classifier.probabilities(pixels)]


def _prediction(probabilities: np.ndarray, top_k: int) -> Prediction:
    order = np.argsort(-probabilities, kind="stable")[:top_k]
    top = [(int(digit), round(float(probabilities[digit]), 6)) for digit in order]
    return Prediction(digit=top[0][0], probability=top[0][1], top_k=top)


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
                image.load()
                return normalise_digit(image)
    except UnidentifiedImageError:
        raise BadImageError("not an image (Pillow cannot identify it)") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise BadImageError(f"too many pixels (at most {MAX_PIXELS:,})") from None
    except NoInkError as error:
        raise BadImageError(str(error)) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImageError(f"truncated or corrupt image ({error})") from None


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
        yield map(_digit_or_reason, files)
        return
    # Imported here: a few images, the usual call, never need them.
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    pool = ProcessPoolExecutor(workers, mp_context=get_context("fork"))
    try:
        yield pool.map(_digit_or_reason, files, chunksize=16)
    finally:
        pool.shutdown(cancel_futures=True)  # on an error, what is not read yet never is


def _digit_or_reason(path: Path) -> np.ndarray | str:
    try:
        return load_digit(path)
    except BadImageError as error:
        return str(error)


def _check_size(image: Image.Image) -> None:
    # The header gives the size before any pixel is decoded.
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise BadImageError(f"{width}x{height} is too many pixels (at most {MAX_PIXELS:,})")


def collect_images(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Image files named or inside named folders; and each path that gives none, with why."""
    files, failures = [], []
    for path in paths:
        kind = _kind(path)
        if kind == "folder":
            found, bad = _images_in(path)
            files.extend(found)
            failures.extend(bad)
            if not found and not bad:
                failures.append((path, f"no images ({', '.join(IMAGE_SUFFIXES)}) in this folder"))
        elif kind == "file":
            files.append(path)
        else:
            failures.append((path, kind))
    return files, failures


def _images_in(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The folder's entries named like images: the files, and the others with their reason."""
    try:
        entries = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as error:
        return [], [(folder, f"cannot list this folder: {os_reason(error)}")]
    files, failures = [], []
    for entry in entries:
        kind = _kind(entry)
        if kind == "file":
            files.append(entry)
        else:
            failures.append((entry, "a folder, not an image file" if kind == "folder" else kind))
    return files, failures


def _kind(path: Path) -> str:
    """'file', 'folder', or the true reason this path cannot be read as an image."""
    try:
        mode = path.stat().st_mode  # follows symlinks
    except FileNotFoundError:
        return (
            "a symlink whose target does not exist"
            if path.is_symlink()
            else "no such file or folder"
        )
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symlink loop"
        return os_reason(error).lower()
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not an image file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not an image file"
    return "not a regular file"


def check_grid_path(path: Path) -> None:
    """Refuse a --grid that would lose data or cannot be a PNG, before any work is done."""
    if path.is_dir():
        raise PipelineError(f"--grid {path}: is a folder; expected a file name ending in .png")
    if path.suffix.lower() != ".png":
        raise PipelineError(f"--grid {path}: expected a file name ending in .png")


def format_predictions(rows: list[tuple[Path, Prediction]], style: str) -> str:
    if style == "json":
        return json.dumps([{"path": str(path), **asdict(p)} for path, p in rows], indent=2)
    top = [" ".join(f"{d}:{q:.4f}" for d, q in p.top_k) for _, p in rows]
    if style == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["path", "digit", "probability", "top_k"])
        writer.writerows(
            [str(path), p.digit, p.probability, t] for (path, p), t in zip(rows, top, strict=True)
        )
        return buffer.getvalue().rstrip("\n")
    width = max([len("path"), *(len(str(path)) for path, _ in rows)])
    lines = [f"{'path':<{width}}  digit  probability  top-k"]
    lines += [
        f"{path!s:<{width}}  {p.digit:>5}  {p.probability:>11.4f}  {t}"
        for (path, p), t in zip(rows, top, strict=True)
    ]
    return "\n".join(lines)


def save_grid(path: Path, rows: list[tuple[Path, Prediction]], pixels: np.ndarray) -> None:
    # matplotlib takes a while to import: only when a grid is asked for.
    from mnist_pipeline.report import CORRECT_COLOUR, UNSURE_COLOUR, digit_grid_figure, save_figure

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


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mnist-predict", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="images or folders")
    _add_model_argument(parser)
    parser.add_argument(
        "--top-k",
        type=int,
        default=3,
        choices=range(1, 11),
        metavar="K",
        help="how many alternatives to list, 1-10 (default 3)",
    )
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")
    parser.add_argument("--grid", type=Path, help="write a PNG of each input as the model saw it")
    return parser.parse_args(argv)


def parse_serve_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mnist-predict serve", description="a page to draw digits on, and POST /predict"
    )
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1: this machine only")
    parser.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free one")
    _add_model_argument(parser)
    return parser.parse_args(argv)


def _add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", type=Path, default=DEFAULT_MODEL, help="a .onnx or .keras model file"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve_command(parse_serve_arguments(argv[1:]))
    return predict_command(parse_arguments(argv))


def serve_command(args: argparse.Namespace) -> int:
    from mnist_pipeline.serve import serve  # the web framework: only for this command

    serve(load_classifier(args.model), args.host, args.port)
    return 0


def predict_command(args: argparse.Namespace) -> int:
    if args.grid:
        check_grid_path(args.grid)
    files, failures = collect_images(args.paths)
    with reading(files) as digits:
        # The model loads (onnxruntime's import is most of it) while workers read.
        classifier = load_classifier(args.model) if files else None
        loaded = []
        for path, digit in zip(files, digits, strict=True):
            if isinstance(digit, str):
                failures.append((path, digit))
            else:
                loaded.append((path, digit))
    for path, problem in failures:
        print(f"error: {path}: {problem}", file=sys.stderr)
    if loaded:
        pixels = np.stack([digit for _, digit in loaded])
        predictions = predict_pixels(classifier, pixels, args.top_k)
        rows = list(zip([path for path, _ in loaded], predictions, strict=True))
        print(format_predictions(rows, args.format))
        if args.grid:
            save_grid(args.grid, rows, pixels)
    return 1 if failures or not loaded else 0


def cli() -> None:
    run_command(main)


if __name__ == "__main__":
    cli()
