"""How well mnist-predict reads handwriting that is not MNIST, as phones and scanners give it.

The digits are scikit-learn's 1,797 handwritten digits (43 writers, UCI; not
MNIST), drawn as pen strokes on a page, dark on light, then given one effect
at a time and all together: uneven light and a shadow, ruled paper, squared
paper, stray marks, a thick marker, a hard-edged pen of even width, a thin
pencil, a small digit on a large page. Each image goes through the same code
as `mnist-predict` (read_digit, then the model). A fixed seed makes every run
see the same images. Beside each effect: how many of its misses the clean
drawing of the same digit reads right (the others, clean misses too), and
its commonest mistake.

    python bench/predict_photos.py [--model models/model.onnx] [--seed 0] [--limit N]

It also reads the 10,000 MNIST test digits directly and through the
normalisation, since the normalisation must cost nothing on MNIST itself.
"""

import argparse
import io
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mnist_pipeline.classifier import load_classifier
from mnist_pipeline.dataset import Split, split_path
from mnist_predict.digit_image import normalise_digit
from mnist_predict.reading import BadImageError, read_digit
from tests.photos import INK, PAPER, ruled_paper, stray_marks, uneven_light


def strokes(digit_8x8: np.ndarray, height: int, level: float = 0.45) -> np.ndarray:
    """Ink coverage 0..1 of an 8x8 digit drawn ``height`` pixels tall: smooth pen strokes."""
    small = Image.fromarray((digit_8x8 * (255 / 16)).astype(np.uint8))
    smooth = np.asarray(small.resize((height, height), Image.Resampling.BICUBIC), np.float32) / 255
    return np.clip((smooth - level) / 0.12, 0, 1)


def on_page(ink: np.ndarray, size: tuple[int, int], rng, ink_level: float = INK) -> np.ndarray:
    """The strokes at a random place on a page of ``size`` (width, height), as grey levels."""
    width, height = size
    page = np.full((height, width), PAPER, np.float32)
    top = int(rng.integers(0, height - ink.shape[0] + 1))
    left = int(rng.integers(0, width - ink.shape[1] + 1))
    window = page[top : top + ink.shape[0], left : left + ink.shape[1]]
    window += ink * (ink_level - PAPER)
    return page


def clean(digit, rng) -> np.ndarray:
    height = int(rng.integers(90, 180))
    side = int(height * rng.uniform(1.6, 2.6))
    return on_page(strokes(digit, height), (side, side), rng)


def thick_marker(digit, rng) -> np.ndarray:
    height = int(rng.integers(90, 180))
    ink = Image.fromarray((strokes(digit, height, level=0.3) * 255).astype(np.uint8))
    ink = ink.filter(ImageFilter.MaxFilter(2 * (height // 30) + 1))
    side = int(height * rng.uniform(1.6, 2.6))
    return on_page(np.asarray(ink, np.float32) / 255, (side, side), rng, ink_level=15)


def hard_pen(digit, rng) -> np.ndarray:
    """A felt-tip or gel pen: strokes of one width, fully dark, with hard edges (no grey)."""
    height = int(rng.integers(90, 180))
    core = Image.fromarray(((strokes(digit, height, level=0.55) > 0.5) * 255).astype(np.uint8))
    ink = core.filter(ImageFilter.MaxFilter(2 * (height // 40) + 1))  # the pen's width
    side = int(height * rng.uniform(1.6, 2.6))
    return on_page((np.asarray(ink) > 127).astype(np.float32), (side, side), rng, ink_level=25)


def thin_pencil(digit, rng) -> np.ndarray:
    """Narrow, grey, grainy strokes."""
    height = int(rng.integers(90, 180))
    ink = strokes(digit, height, level=0.62) * rng.uniform(0.7, 1.0, (height, height))
    side = int(height * rng.uniform(1.6, 2.6))
    return on_page(ink, (side, side), rng, ink_level=120)


def small_on_large_page(digit, rng) -> np.ndarray:
    height = int(rng.integers(40, 70))
    return on_page(strokes(digit, height), (1200, 1600), rng)


def all_together(digit, rng) -> np.ndarray:
    base = [clean, thick_marker, hard_pen, thin_pencil, small_on_large_page][int(rng.integers(5))]
    page = ruled_paper(base(digit, rng), rng, squared=bool(rng.random() < 0.5))
    return uneven_light(stray_marks(page, rng), rng)


EFFECTS: dict[str, Callable] = {
    "clean": clean,
    "uneven light": lambda digit, rng: uneven_light(clean(digit, rng), rng),
    "ruled paper": lambda digit, rng: ruled_paper(clean(digit, rng), rng),
    "squared paper": lambda digit, rng: ruled_paper(clean(digit, rng), rng, squared=True),
    "stray marks": lambda digit, rng: stray_marks(clean(digit, rng), rng),
    "thick marker": thick_marker,
    "hard-edged pen": hard_pen,
    "thin pencil": thin_pencil,
    "small digit, large page": small_on_large_page,
    "all together": all_together,
}


def as_jpeg(page: np.ndarray) -> bytes:
    """As a phone saves it: RGB JPEG."""
    buffer = io.BytesIO()
    Image.fromarray(np.clip(page, 0, 255).astype(np.uint8)).convert("RGB").save(
        buffer, "JPEG", quality=90
    )
    return buffer.getvalue()


def effect_predictions(classifier, effect: Callable, digits, labels, seed: int) -> np.ndarray:
    """The digit read from each image given ``effect``; -1 where the command refuses the image."""
    rng = np.random.default_rng(seed)
    read = [_read_or_none(as_jpeg(effect(digit, rng))) for digit in digits]
    found = [index for index, pixels in enumerate(read) if pixels is not None]
    predicted = np.full(len(labels), -1)  # an image the command refuses counts as wrong
    if found:
        pixels = np.stack([read[index] for index in found])
        predicted[found] = classifier.probabilities(pixels).argmax(1)
    return predicted


def commonest_mistake(labels: np.ndarray, predicted: np.ndarray) -> str:
    wrong = predicted != labels
    if not wrong.any():
        return "none"
    pairs = np.stack([labels[wrong], predicted[wrong]])
    pairs, counts = np.unique(pairs, axis=1, return_counts=True)
    actual, read_as = pairs[:, counts.argmax()]
    return f"{actual} read as {read_as} ({counts.max()} of {wrong.sum()})"


def _read_or_none(image: bytes) -> np.ndarray | None:
    try:
        return read_digit(io.BytesIO(image))
    except BadImageError:
        return None


def mnist_accuracy(classifier, data: Path) -> tuple[float, float]:
    """Test accuracy on MNIST's own digits, as they are and through the normalisation."""
    test = Split.load(split_path(data, "test"))
    direct = classifier.probabilities(test.x).argmax(1)
    normalised = np.stack([normalise_digit(image) for image in test.x])
    through = classifier.probabilities(normalised).argmax(1)
    return float(np.mean(direct == test.y)), float(np.mean(through == test.y))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=Path("models/model.onnx"))
    parser.add_argument("--data", type=Path, default=Path("data/processed"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, help="only the first N digits (quick look)")
    args = parser.parse_args()
    classifier = load_classifier(args.model)
    digits = load_digits()
    images, labels = digits.images[: args.limit], digits.target[: args.limit]
    print(f"{len(labels)} handwritten digits (scikit-learn's, 43 writers), seed {args.seed}")
    predictions = {
        name: effect_predictions(classifier, effect, images, labels, args.seed)
        for name, effect in EFFECTS.items()
    }
    clean_right = predictions["clean"] == labels
    print(f"  {'effect':<24} accuracy  misses clean reads right  commonest mistake")
    for name, predicted in predictions.items():
        wrong = predicted != labels
        effects_own = f"{np.count_nonzero(wrong & clean_right)} of {np.count_nonzero(wrong)}"
        mistake = commonest_mistake(labels, predicted)
        print(f"  {name:<24} {np.mean(~wrong):>7.1%}   {effects_own:<24}  {mistake}")
    direct, through = mnist_accuracy(classifier, args.data)
    print(f"MNIST test digits: {direct:.2%} as they are, {through:.2%} through the normalisation")


if __name__ == "__main__":
    main()
