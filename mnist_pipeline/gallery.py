"""The test images the report shows: the first ones, and the most confident mistakes.

The evaluate stage picks them (it has the model's probabilities) and saves them
with what the model said; the report stage draws them without loading a model.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_pipeline.atomic import save_npz
from mnist_pipeline.dataset import IMAGE_SHAPE, load_npz

GALLERY_SIZE = 100  # images kept for the report's grids (report.* may show fewer)
GROUPS = ("samples", "mistakes")


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
