"""Model builders: shapes, probabilities, and the optimizer choices."""

import numpy as np
import pytest

from mnist_pipeline.models import ARCHITECTURES, build_model, make_optimizer
from mnist_pipeline.params import ModelParams, TrainParams

TRAIN = TrainParams(epochs=1, batch_size=32, learning_rate=0.001, optimizer="adam")


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_maps_images_to_ten_probabilities(arch):
    model = build_model(ModelParams(arch=arch), TRAIN)
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    probabilities = np.asarray(model(images))
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities >= 0).all()


def test_basic_is_the_standard_cnn():
    model = build_model(ModelParams(arch="basic"), TRAIN)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Dense",
    ]
    assert model.count_params() == 225_034


@pytest.mark.parametrize(("name", "kind"), [("adam", "Adam"), ("adamw", "AdamW"), ("sgd", "SGD")])
def test_optimizer_follows_the_param(name, kind):
    optimizer = make_optimizer(TRAIN.model_copy(update={"optimizer": name, "learning_rate": 0.01}))
    assert type(optimizer).__name__ == kind
    assert float(optimizer.learning_rate) == pytest.approx(0.01)
