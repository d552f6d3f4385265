"""A split's metrics from labels and predicted probabilities: the summary and per digit."""

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

from mnist_pipeline.dataset import NUM_CLASSES

EPSILON = 1e-7  # Keras clips probabilities the same way before taking the log


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
