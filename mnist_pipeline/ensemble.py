"""An ensemble: models trained alike but for their seed, read by the mean of their probabilities."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mnist_pipeline.dataset import Split
from mnist_pipeline.evaluation import summary_metrics


def member_file(folder: str | Path, seed: int) -> Path:
    """Where ensemble/dvc.yaml's train_member@<seed> writes its model."""
    return Path(folder) / f"member_{seed}.keras"


def ensemble_metrics(
    split: Split, probabilities: Sequence[np.ndarray], seeds: Sequence[int]
) -> dict[str, object]:
    """The averaged members on ``split``, and each member alone, for comparison."""
    members = {
        str(seed): summary_metrics(split.y, member)["accuracy"]
        for seed, member in zip(seeds, probabilities, strict=True)
    }
    return {
        **summary_metrics(split.y, np.mean(probabilities, axis=0)),
        "members": len(members),
        "member_accuracy": members,
    }
