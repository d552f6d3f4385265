"""A classifier's answer for each digit: the most likely one, its probability, the top k."""

from dataclasses import dataclass

import numpy as np

from mnist_predict.digit_image import normalise_digit


@dataclass(frozen=True)
class Prediction:
    digit: int
    probability: float
    top_k: list[tuple[int, float]]  # (digit, probability), most likely first


def predict_images(classifier, images, top_k: int = 3) -> list[Prediction]:
    """Predict digits in images of any size or mode (arrays or PIL images).

    ``classifier`` comes from ``mnist_pipeline.classifier.load_classifier``.
    """
    pixels = np.stack([normalise_digit(image) for image in images])
    return predict_pixels(classifier, pixels, top_k)


def predict_pixels(classifier, pixels: np.ndarray, top_k: int = 3) -> list[Prediction]:
    """Predict already-normalised uint8 digits (N, 28, 28)."""
    return [_prediction(row, top_k) for row in classifier.probabilities(pixels)]


def _prediction(probabilities: np.ndarray, top_k: int) -> Prediction:
    order = np.argsort(-probabilities, kind="stable")[:top_k]
    top = [(int(digit), round(float(probabilities[digit]), 6)) for digit in order]
    return Prediction(digit=top[0][0], probability=top[0][1], top_k=top)
