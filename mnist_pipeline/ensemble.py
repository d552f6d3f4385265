"""An ensemble: models trained alike but for their seed, read by the mean of their probabilities."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mnist_pipeline.dataset import Split
from mnist_pipeline.evaluation import summary_metrics


def member_file(folder: str | Path, seed: int) -> Path:
    """Where dvc.yaml's train_member@<seed> writes its model."""
    return Path(folder) / f"member_{seed}.keras"


def ensemble_metrics(split: Split, probabilities: Sequence[np.ndarray]) -> dict[str, float]:
    """The members' mean probabilities scored on ``split``, as any model's are."""
    return summary_metrics(split.y, np.mean(probabilities, axis=0))


def member_accuracies(split: Split, probabilities: Sequence[np.ndarray]) -> list[float]:
    """Each member alone on ``split``, to compare the ensemble with."""
    return [summary_metrics(split.y, member)["accuracy"] for member in probabilities]
