"""The preprocess stage's work: split off a stratified validation set; the test set stays apart."""

import numpy as np

from mnist_pipeline.dataset import RawData, Split
from mnist_pipeline.errors import PipelineError


def stratified_split(
    labels: np.ndarray, val_fraction: float, seed: int, subset: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation), each class in the same proportion in both.

    With ``subset``, a stratified sample of that many images is split instead
    of all of them.
    """
    # Imported here: scikit-learn takes a second to import.
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
) -> dict[str, Split]:
    """Train, validation and test splits, uint8 pixels as they are; the test set stays apart."""
    train, val = stratified_split(raw.y_train, val_fraction, seed, subset)
    return {
        "train": Split(raw.x_train[train], raw.y_train[train]),
        "val": Split(raw.x_train[val], raw.y_train[val]),
        "test": Split(raw.x_test, raw.y_test),  # never seen by training
    }
