"""The arrays that flow between stages, and their checks.

Raw MNIST (``data/raw/mnist.npz``) and the processed splits hold the same
kind of arrays: uint8 images of shape (N, 28, 28), ink bright on dark, and
integer labels 0-9. The model takes these pixels as they are and scales them
itself, so no stage converts them.
"""

import hashlib
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_pipeline.atomic import save_npz, write_npz
from mnist_pipeline.errors import MissingInputError, PipelineError

RAW_KEYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10


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
        check_digits(getattr(data, f"x_{part}"), getattr(data, f"y_{part}"), f"_{part}")


def check_digits(images: np.ndarray, labels: np.ndarray, suffix: str = "") -> None:
    """Raise PipelineError unless these are uint8 (N, 28, 28) images with N labels 0-9.

    The message names the arrays as the .npz file does: ``x`` + suffix, ``y`` + suffix.
    """
    _check_images(f"x{suffix}", images)
    _check_labels(f"y{suffix}", labels, len(images))


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


@dataclass(frozen=True)
class Split:
    """One processed split: uint8 images (N, 28, 28) and their labels."""

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def load(cls, path: str | Path) -> "Split":
        """Read and check a split; PipelineError names the file and the first problem."""
        split = cls(**load_npz(path, ("x", "y"), "processed split"))
        try:
            check_digits(split.x, split.y)
        except PipelineError as error:
            raise PipelineError(f"{path}: {error}; run `dvc repro -f preprocess`") from None
        return split

    def save(self, path: str | Path) -> None:
        """Write to ``path`` as it is: the preprocess stage replaces its folder atomically."""
        save_npz(Path(path), x=self.x, y=self.y)


def split_path(folder: str | Path, name: str) -> Path:
    return Path(folder) / f"{name}.npz"


def save_splits(folder: str | Path, splits: dict[str, Split]) -> None:
    """Each split as ``<name>.npz`` in ``folder``, where ``split_path`` finds it."""
    for name, split in splits.items():
        split.save(split_path(folder, name))


def load_npz(path: str | Path, keys: tuple[str, ...], what: str) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(path, what)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise PipelineError(f"{path}: missing arrays {missing}; expected {list(keys)}")
            for key in keys:
                _check_header(path, archive.zip, key)
            return {key: archive[key] for key in keys}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise PipelineError(f"{path}: not a readable {what} .npz file ({error})") from None


def _check_header(path: Path, archive: zipfile.ZipFile, key: str) -> None:
    """Refuse an array whose header claims more bytes than the file holds, before allocating.

    A damaged or hostile header can claim 10^11 images; NumPy would try to
    allocate them before it noticed the data was missing.
    """
    member = archive.getinfo(f"{key}.npy")
    with archive.open(member) as file:
        version = np.lib.format.read_magic(file)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(file)
        header_bytes = file.tell()
    if dtype.hasobject:
        return  # pickled objects: np.load refuses them, allow_pickle being off
    claimed = math.prod(shape) * dtype.itemsize
    if claimed != member.file_size - header_bytes:
        raise PipelineError(
            f"{path}: array {key} claims shape {shape} ({claimed:,} bytes) but holds "
            f"{member.file_size - header_bytes:,} bytes; the file is damaged"
        )
