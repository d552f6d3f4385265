"""Test-set metrics from labels and predicted probabilities, and the images the report shows."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from mnist_pipeline.atomic import save_npz
from mnist_pipeline.dataset import IMAGE_SHAPE, NUM_CLASSES, load_npz

EPSILON = 1e-7  # Keras clips probabilities the same way before taking the log
GALLERY_SIZE = 100  # images kept for the report's grids (report.* may show fewer)
GROUPS = ("samples", "mistakes")


def cross_entropy(labels: np.ndarray, probabilities: np.ndarray) -> float:
    chosen = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(chosen, EPSILON, 1.0))))


def summary_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """A split's accuracy and loss: what `dvc metrics show` and `dvc exp show` print.

    Every metrics file names the split first, then the measure, so ``test.accuracy``
    is the test accuracy wherever it appears and the columns line up. Per-digit
    precision, recall and F1 are plot data (``per_class_metrics``); their macro
    averages would only widen the table (MNIST's classes are near balanced).
    """
    predicted = probabilities.argmax(axis=1)
    return _rounded(
        {
            "accuracy": float(np.mean(predicted == labels)),
            "loss": cross_entropy(labels, probabilities),
        }
    )


def per_class_metrics(labels: np.ndarray, predicted: np.ndarray) -> list[dict]:
    """One record per digit, in order: a table DVC plots as bars (and the report prints)."""
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=range(NUM_CLASSES), zero_division=0
    )
    return [
        {
            "digit": digit,
            **_rounded({"precision": precision[digit], "recall": recall[digit], "f1": f1[digit]}),
            "support": int(support[digit]),
        }
        for digit in range(NUM_CLASSES)
    ]


def _rounded(values: dict) -> dict[str, float]:
    # Six decimals: beyond float32 noise, and the JSON diffs stay readable.
    return {name: round(float(value), 6) for name, value in values.items()}


@dataclass(frozen=True)
class Shown:
    """Test images to show in the report, with what the model said of them."""

    images: np.ndarray  # (N, 28, 28) uint8 pixels
    labels: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray  # the probability of the predicted class

    FIELDS = ("images", "labels", "predicted", "confidence")

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}_{field}": getattr(self, field) for field in self.FIELDS}

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "Shown":
        return cls(**{field: arrays[f"{prefix}_{field}"] for field in cls.FIELDS})


def gallery(images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Shown]:
    """The first test images, and the most confidently misclassified ones, most confident first."""
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1).astype(np.float32)
    mistakes = np.flatnonzero(predicted != labels)
    by_confidence = mistakes[np.argsort(-confidence[mistakes], kind="stable")]

    def shown(chosen: np.ndarray) -> Shown:
        return Shown(
            images[chosen].reshape(-1, *IMAGE_SHAPE),
            labels[chosen],
            predicted[chosen],
            confidence[chosen],
        )

    return {
        "samples": shown(np.arange(min(GALLERY_SIZE, len(labels)))),
        "mistakes": shown(by_confidence[:GALLERY_SIZE]),
    }


def save_gallery(path: Path, shown: dict[str, Shown]) -> None:
    """Write the gallery to ``path`` as it is (the evaluate stage makes it atomic)."""
    save_npz(
        path,
        **{
            key: value
            for prefix, group in shown.items()
            for key, value in group.to_arrays(prefix).items()
        },
    )


def load_gallery(path: Path) -> dict[str, Shown]:
    keys = tuple(f"{prefix}_{field}" for prefix in GROUPS for field in Shown.FIELDS)
    arrays = load_npz(path, keys, "report gallery")
    return {prefix: Shown.from_arrays(arrays, prefix) for prefix in GROUPS}
