"""Why `9` is read as `3`: the source's lost loop, or the normalisation?

scikit-learn's handwritten digits (bench/predict_photos.py's source) are 8x8
grids: at that size a 9's loop can close up into a blob or open into a hook.
This draws every 9 as a clean pen stroke (as predict_photos.py does), reads it
through `mnist-predict`'s own code, and splits the 9s by whether the drawn
strokes hold a closed loop (a hole of paper inside the ink) before any
normalisation. The same count on MNIST's own test 9s, read as they are, is the
reference: a model trained on MNIST sees loops there.

    python bench/nine_as_three.py [--model models/model.onnx] [--seed 0]
"""

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from predict_photos import as_jpeg, clean, strokes

from mnist_pipeline.classifier import load_classifier
from mnist_pipeline.dataset import Split, split_path
from mnist_predict.reading import read_digit


def has_loop(ink: np.ndarray) -> bool:
    """Whether the inked pixels enclose paper: a hole the border cannot reach."""
    paper, count = ndimage.label(~ink)
    border = set(np.unique(np.concatenate([paper[0], paper[-1], paper[:, 0], paper[:, -1]])))
    return any(label not in border for label in range(1, count + 1))


def split_by_loop(loops: np.ndarray, predicted: np.ndarray, name: str) -> None:
    for looped, words in ((True, "with a closed loop"), (False, "without one")):
        chosen = loops == looped
        total = max(1, int(chosen.sum()))
        as_three, as_nine = (int(np.sum(predicted[chosen] == digit)) for digit in (3, 9))
        kind = f"{name} {words}".strip()
        print(
            f"  {kind:<36} {int(chosen.sum()):>5}: read as 3: {as_three / total:>6.1%}, "
            f"read as 9: {as_nine / total:>6.1%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=Path("models/model.onnx"))
    parser.add_argument("--data", type=Path, default=Path("data/processed"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    classifier = load_classifier(args.model)

    digits = load_digits()
    nines = digits.images[digits.target == 9]
    rng = np.random.default_rng(args.seed)
    read = np.stack([read_digit(io.BytesIO(as_jpeg(clean(nine, rng)))) for nine in nines])
    predicted = classifier.probabilities(read).argmax(1)
    drawn_loops = np.array([has_loop(strokes(nine, 112) > 0.5) for nine in nines])
    read_loops = np.array([has_loop(digit > 96) for digit in read])
    print(f"scikit-learn's 9s, drawn as clean strokes ({len(nines)}):")
    split_by_loop(drawn_loops, predicted, "as drawn,")
    split_by_loop(read_loops, predicted, "as read (28x28),")

    test = Split.load(split_path(args.data, "test"))
    mnist_nines = test.x[test.y == 9]
    mnist_predicted = classifier.probabilities(mnist_nines).argmax(1)
    print(f"MNIST's test 9s ({len(mnist_nines)}):")
    mnist_loops = np.array([has_loop(nine > 96) for nine in mnist_nines])
    split_by_loop(mnist_loops, mnist_predicted, "as they are,")


if __name__ == "__main__":
    main()
