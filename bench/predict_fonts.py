"""How well and how fast mnist-predict reads digits that are not MNIST.

Renders digits from the TrueType fonts matplotlib ships (DejaVu, STIX, Computer
Modern) with a random stroke width, rotation, offset and size, dark ink on
light paper, saved as PNG files as a user would have them; then runs the real
`mnist-predict` command on the folder and on one image.

    python bench/predict_fonts.py [--per-digit 30] [--model models/model.onnx] [--seed 0]
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
COMMAND = Path(sys.executable).parent / "mnist-predict"


def fonts() -> list[Path]:
    # Text faces only: the Display and symbol fonts have no digits (they render blank).
    return sorted(
        p
        for p in FONT_DIR.glob("*.ttf")
        if p.name.startswith(("DejaVu", "STIXGeneral", "cmr", "cmss", "cmtt"))
        and "Display" not in p.name
    )


def render(digit: int, font: Path, rng: np.random.Generator) -> Image.Image:
    size = int(rng.integers(60, 200))
    typeface = ImageFont.truetype(str(font), size)
    canvas = Image.new("L", (size * 2, size * 2), 255)
    stroke = int(rng.integers(0, max(1, size // 20) + 1))
    ImageDraw.Draw(canvas).text(
        (size, size),
        str(digit),
        font=typeface,
        fill=0,
        anchor="mm",
        stroke_width=stroke,
        stroke_fill=0,
    )
    rotated = canvas.rotate(
        float(rng.uniform(-15, 15)), resample=Image.Resampling.BICUBIC, fillcolor=255
    )
    page = Image.new("L", (size * 3, size * 3), int(rng.integers(200, 256)))
    offset = rng.integers(0, size, 2)
    page.paste(rotated, tuple(int(v) for v in offset), mask=Image.eval(rotated, lambda v: 255 - v))
    return page


def make_images(folder: Path, per_digit: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    faces = fonts()
    labels = {}
    for digit in range(10):
        for index in range(per_digit):
            name = f"{digit}_{index:03d}.png"
            render(digit, faces[int(rng.integers(len(faces)))], rng).save(folder / name)
            labels[name] = digit
    return labels


def run_predict(model: Path, *paths: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [str(COMMAND), "--model", str(model), "--format", "json", *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in result.stderr.splitlines():
        if line.startswith("error: "):
            print(line)  # a file the command could not read counts as wrong
    return time.perf_counter() - started, result.stdout


def reading_seconds(files: list[Path]) -> tuple[float, float]:
    """Decoding and normalising only (best of three): one process, then load_all's workers."""
    from mnist_predict.reading import digit_or_reason, load_all

    def best(read) -> float:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            read()
            runs.append(time.perf_counter() - started)
        return min(runs)

    return best(lambda: [digit_or_reason(path) for path in files]), best(lambda: load_all(files))


def keras_import_seconds() -> float:
    """How long a fresh process takes to import Keras and TensorFlow: the start-up floor."""
    command = [sys.executable, "-c", "import keras"]
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-digit", type=int, default=30)
    parser.add_argument("--model", type=Path, default=Path("models/model.onnx"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        labels = make_images(folder, args.per_digit, args.seed)
        folder_runs = [run_predict(args.model, str(folder)) for _ in range(3)]
        rows = json.loads(folder_runs[0][1])
        seconds = statistics.median(seconds for seconds, _ in folder_runs)
        single = [run_predict(args.model, str(folder / "7_000.png"))[0] for _ in range(5)]
        one_process, workers = reading_seconds(sorted(folder.glob("*.png")))
    right = sum(row["digit"] == labels[Path(row["path"]).name] for row in rows)
    rows_read = len(rows)
    per_digit = {
        d: sum(r["digit"] == d for r in rows if labels[Path(r["path"]).name] == d)
        for d in range(10)
    }
    print(f"font digits: {len(labels)} PNG files from {len(fonts())} fonts, {rows_read} read")
    print(f"accuracy: {right / len(labels):.3f} ({right}/{len(labels)})")
    print("right per digit: " + " ".join(f"{d}:{n}" for d, n in per_digit.items()))
    print(
        f"one call on the folder: median {seconds:.2f} s, {len(labels) / seconds:.0f} images/s "
        "(start-up included)"
    )
    one = statistics.median(single)
    print(
        f"one call on one image, process start to output: median {one:.2f} s "
        f"(a bare `import keras` takes {keras_import_seconds():.2f} s)"
    )
    # The folder call pays the same start-up once; the rest is per-image work.
    print(f"after start-up: {(len(labels) - 1) / max(seconds - one, 1e-9):.0f} images/s")
    print(
        f"reading the {len(labels)} files in this process: {one_process * 1000:.0f} ms in one, "
        f"{workers * 1000:.0f} ms in load_all's workers"
    )


if __name__ == "__main__":
    main()
