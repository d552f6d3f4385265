"""Test-set metrics and the report's gallery, from labels and probabilities; the digit grid."""

import numpy as np
import pytest

from mnist_pipeline.evaluation import cross_entropy, per_class_metrics, summary_metrics
from mnist_pipeline.figures import digit_grid_figure
from mnist_pipeline.gallery import gallery, load_gallery, save_gallery


def one_hot_probabilities(predicted, confidence=0.91):
    probabilities = np.full((len(predicted), 10), (1 - confidence) / 9)
    probabilities[np.arange(len(predicted)), predicted] = confidence
    return probabilities


def test_perfect_predictions_score_one():
    labels = np.arange(10).repeat(3)
    metrics = summary_metrics(labels, one_hot_probabilities(labels))
    assert list(metrics) == ["accuracy", "loss"]  # the keys of every split in every metrics file
    assert metrics["accuracy"] == 1.0
    assert metrics["loss"] == pytest.approx(-np.log(0.91), abs=1e-6)


def test_metrics_match_a_hand_count():
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9])
    predicted = labels.copy()
    predicted[1] = 1  # one 0 read as 1
    metrics = summary_metrics(labels, one_hot_probabilities(predicted))
    assert metrics["accuracy"] == pytest.approx(12 / 13, abs=1e-6)
    per_class = per_class_metrics(labels, predicted)
    assert per_class[0] == {
        "digit": 0,
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3, abs=1e-6),
        "support": 2,
    }
    assert per_class[1]["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert per_class[1]["recall"] == 1.0
    assert [row["digit"] for row in per_class] == list(range(10))


def test_a_class_never_predicted_scores_zero_without_warning():
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    predicted = np.where(labels == 9, 8, labels)
    assert per_class_metrics(labels, predicted)[9]["precision"] == 0.0


def test_cross_entropy_matches_keras():
    import keras

    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(10), size=50).astype(np.float32)
    probabilities[0] = np.eye(10)[3]  # a zero probability on the true class is clipped, not inf
    labels = rng.integers(0, 10, 50)
    expected = keras.losses.SparseCategoricalCrossentropy()(labels, probabilities)
    assert cross_entropy(labels, probabilities) == pytest.approx(float(expected), rel=1e-5)


def test_gallery_keeps_the_first_images_and_the_most_confident_mistakes(tmp_path):
    labels = np.array([1, 2, 3, 4, 5])
    probabilities = one_hot_probabilities(np.array([1, 7, 3, 8, 9]))
    probabilities[3] = one_hot_probabilities(np.array([8]), confidence=0.99)[0]
    images = np.arange(5 * 784, dtype=np.float32).reshape(5, 28, 28, 1)
    shown = gallery(images, labels, probabilities)
    np.testing.assert_array_equal(shown["samples"].labels, labels)
    np.testing.assert_array_equal(shown["mistakes"].labels, [4, 2, 5])  # 0.99 first, then ties
    np.testing.assert_array_equal(shown["mistakes"].predicted, [8, 7, 9])
    save_gallery(tmp_path / "gallery.npz", shown)
    loaded = load_gallery(tmp_path / "gallery.npz")
    np.testing.assert_array_equal(loaded["mistakes"].images, images[[3, 1, 4], ..., 0])


@pytest.mark.parametrize("digits", [1, 2, 9])
def test_a_digit_grid_title_fits_inside_the_figure(digits):
    figure = digit_grid_figure(
        np.zeros((digits, 28, 28), np.uint8),
        titles=["7 (99%)"] * digits,
        captions=["a_long_file_name.png"] * digits,
        colours=["#1a7f37"] * digits,
        title="What the model saw, and what it read (amber: under 90% sure)",
    )
    figure.canvas.draw()
    title = figure.texts[0].get_window_extent()
    assert figure.bbox.x0 <= title.x0 and title.x1 <= figure.bbox.x1
    assert title.y1 <= figure.bbox.y1
