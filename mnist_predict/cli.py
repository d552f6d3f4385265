"""mnist-predict: which digit is in each of your images.

    mnist-predict [--model models/model.onnx] [--top-k K] [--format table|json|csv]
                  [--grid out.png] PATH...
    mnist-predict serve [--host 127.0.0.1] [--port 8000] [--model models/model.onnx]

PATH is an image file or a folder of them. Each image is normalised the way
MNIST was made (see ``digit_image``), so photos and scans of a digit on paper
work as they are. A file that cannot be read is reported on one line and
skipped; the exit status is 1 if any file failed. The exported ONNX model runs
without TensorFlow; a .keras model works too, after TensorFlow's start-up.
``serve`` opens a page to draw digits on (see ``mnist_predict.serve``).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from mnist_pipeline.classifier import load_classifier
from mnist_pipeline.errors import run_command
from mnist_predict.collecting import collect_images
from mnist_predict.formats import FORMATS, format_predictions
from mnist_predict.grid import check_grid_path, save_grid
from mnist_predict.prediction import predict_pixels
from mnist_predict.reading import reading

DEFAULT_MODEL = Path("models/model.onnx")


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
    parser.add_argument("--format", choices=tuple(FORMATS), default="table")
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


def run(argv: list[str] | None = None) -> int:
    """The command, given its arguments; its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve_command(parse_serve_arguments(argv[1:]))
    return predict_command(parse_arguments(argv))


def serve_command(args: argparse.Namespace) -> int:
    from mnist_predict.serve import serve  # the web framework: only for this command

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


def main() -> None:
    """The ``mnist-predict`` entry point: a user's error is one line and an exit status."""
    run_command(run, interrupted="interrupted")


if __name__ == "__main__":
    main()
