"""The arrays that flow between stages, their checks, and the one pixel normalisation.

Raw MNIST (``data/raw/mnist.npz``) holds uint8 images of shape (N, 28, 28)
and uint8 labels. Processed splits hold what the model eats: float32 images
in [0, 1] of shape (N, 28, 28, 1) and integer labels.
"""

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_pipeline.atomic import write_npz
from mnist_pipeline.errors import MissingInputError, PipelineError

RAW_KEYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10


def to_model_input(pixels: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28), ink bright on dark, -> float32 (N, 28, 28, 1) in [0, 1]."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"expected uint8 images of shape (N, 28, 28), got {pixels.dtype} {pixels.shape}"
        )
    return (pixels.astype(np.float32) / 255.0)[..., np.newaxis]


@dataclass(frozen=True)
class RawData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @classmethod
    def load(cls, path: str | Path) -> "RawData":
        """Read and check raw MNIST; PipelineError names the first problem."""
        data = cls(**load_npz(path, RAW_KEYS, "raw MNIST"))
        check_raw(data)
        return data

    def save(self, path: str | Path) -> None:
        write_npz(path, **{key: getattr(self, key) for key in RAW_KEYS})

    def sha256(self, key: str) -> str:
        return hashlib.sha256(np.ascontiguousarray(getattr(self, key)).tobytes()).hexdigest()


def check_raw(data: RawData) -> None:
    """Raise PipelineError naming the first way ``data`` is not MNIST-shaped."""
    for part in ("train", "test"):
        images, labels = getattr(data, f"x_{part}"), getattr(data, f"y_{part}")
        _check_images(f"x_{part}", images)
        _check_labels(f"y_{part}", labels, len(images))


def _check_images(key: str, images: np.ndarray) -> None:
    if images.dtype != np.uint8:
        raise PipelineError(f"{key}: dtype {images.dtype}, expected uint8")
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE or len(images) == 0:
        raise PipelineError(f"{key}: shape {images.shape}, expected (N, 28, 28) with N > 0")


def _check_labels(key: str, labels: np.ndarray, count: int) -> None:
    if labels.dtype.kind not in "iu":
        raise PipelineError(f"{key}: dtype {labels.dtype}, expected integer labels")
    if labels.shape != (count,):
        raise PipelineError(f"{key}: shape {labels.shape}, expected ({count},) to match images")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise PipelineError(f"{key}: labels span {labels.min()}..{labels.max()}, expected 0..9")
    missing = sorted(set(range(NUM_CLASSES)) - set(np.unique(labels).tolist()))
    if missing:
        raise PipelineError(f"{key}: no examples of class {missing}; every digit 0-9 is needed")


def stratified_split(
    labels: np.ndarray, val_fraction: float, seed: int, subset: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation), each class in the same proportion in both.

    With ``subset``, a stratified sample of that many images is split instead
    of all of them.
    """
    # Imported here: scikit-learn takes a second to import, and mnist-predict never splits.
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    if subset is not None and subset < len(labels):
        indices, _ = train_test_split(
            indices, train_size=subset, stratify=labels, random_state=seed
        )
    try:
        train, val = train_test_split(
            indices, test_size=val_fraction, stratify=labels[indices], random_state=seed
        )
    except ValueError as error:  # too few images of a class to put one in each part
        raise PipelineError(f"cannot make a stratified validation split: {error}") from None
    return np.sort(train), np.sort(val)


def make_splits(
    raw: RawData, val_fraction: float, seed: int, subset: int | None = None
) -> dict[str, "Split"]:
    """Model-ready train, validation and test splits; the test set stays apart."""
    train, val = stratified_split(raw.y_train, val_fraction, seed, subset)
    return {
        "train": Split(to_model_input(raw.x_train[train]), raw.y_train[train]),
        "val": Split(to_model_input(raw.x_train[val]), raw.y_train[val]),
        "test": Split(to_model_input(raw.x_test), raw.y_test),  # never seen by training
    }


@dataclass(frozen=True)
class Split:
    """One processed split: model-ready images and their labels."""

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def load(cls, path: str | Path) -> "Split":
        return cls(**load_npz(path, ("x", "y"), "processed split"))

    def save(self, path: str | Path) -> None:
        write_npz(path, x=self.x, y=self.y)


def split_path(folder: str | Path, name: str) -> Path:
    return Path(folder) / f"{name}.npz"


def load_npz(path: str | Path, keys: tuple[str, ...], what: str) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, what)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise PipelineError(f"{path}: missing arrays {missing}; expected {list(keys)}")
            return {key: archive[key] for key in keys}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise PipelineError(f"{path}: not a readable {what} .npz file ({error})") from None
