"""Model builders, augmentation, schedules, losses and optimizers."""

import keras
import numpy as np
import pytest

from mnist_pipeline.models import (
    ARCHITECTURES,
    build_model,
    learning_rate,
    make_loss,
    make_network,
    make_optimizer,
)
from mnist_pipeline.params import load_params
from tests.conftest import REPO

DEFAULTS = load_params(REPO / "params.yaml")
MODEL, TRAIN = DEFAULTS.model, DEFAULTS.train


def with_model(**changes):
    return MODEL.model_copy(update=changes)


def with_train(**changes):
    return TRAIN.model_copy(update=changes)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("batch_norm", [True, False])
def test_every_architecture_maps_images_to_ten_probabilities(arch, batch_norm):
    model = build_model(with_model(arch=arch, batch_norm=batch_norm, dropout=0.25), TRAIN)
    images = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    probabilities = np.asarray(model(images))
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities >= 0).all()


def layer_kinds(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_basic_is_the_standard_cnn():
    model = make_network(MODEL)
    assert layer_kinds(model) == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
        "Dropout",  # params.yaml's model.dropout, 0.5 as in the Keras example
        "Dense",
    ]
    assert model.count_params() == 225_034


def test_deep_has_three_convs_two_pools_and_two_hidden_dense_layers():
    kinds = layer_kinds(make_network(with_model(arch="deep")))
    assert (kinds.count("Conv2D"), kinds.count("MaxPooling2D"), kinds.count("Dense")) == (3, 2, 3)


def test_bn_dropout_normalises_and_drops_out_each_block():
    kinds = layer_kinds(make_network(with_model(arch="bn_dropout", dropout=0.25)))
    assert kinds.count("BatchNormalization") == 2 and kinds.count("Dropout") == 3
    off = layer_kinds(make_network(with_model(arch="bn_dropout", batch_norm=False, dropout=0.0)))
    assert "BatchNormalization" not in off and "Dropout" not in off


def output_shapes(model: keras.Model, kind: str) -> list[tuple]:
    return [tuple(layer.output.shape[1:]) for layer in model.layers if type(layer).__name__ == kind]


def test_fast_downsamples_with_three_strided_convs_and_no_pooling():
    model = make_network(with_model(arch="fast"))
    assert output_shapes(model, "Conv2D") == [(14, 14, 24), (7, 7, 48), (4, 4, 96)]
    assert not [kind for kind in layer_kinds(model) if "Pooling" in kind]


def test_best_has_two_three_conv_stages_and_a_conv_as_its_dense_layer():
    model = make_network(with_model(arch="best", dropout=0.4))
    assert output_shapes(model, "Conv2D") == [
        (26, 26, 32), (24, 24, 32), (12, 12, 32),
        (10, 10, 64), (8, 8, 64), (4, 4, 64),
        (1, 1, 128),
    ]  # fmt: skip
    assert layer_kinds(model).count("Dropout") == 3
    assert layer_kinds(model).count("BatchNormalization") == 7


def test_augmentation_acts_in_training_only():
    params = with_model(
        augment=MODEL.augment.model_copy(
            update={"rotation_degrees": 20.0, "translation": 0.1, "zoom": 0.1}
        )
    )
    model = make_network(params)
    assert layer_kinds(model)[:3] == ["RandomRotation", "RandomTranslation", "RandomZoom"]
    images = np.random.default_rng(1).random((2, 28, 28, 1), dtype=np.float32)
    augmenting = keras.Sequential(model.layers[:3])
    np.testing.assert_array_equal(np.asarray(augmenting(images, training=False)), images)
    assert not np.allclose(np.asarray(augmenting(images, training=True)), images)


@pytest.mark.parametrize(("name", "kind"), [("adam", "Adam"), ("adamw", "AdamW"), ("sgd", "SGD")])
def test_optimizer_follows_the_param(name, kind):
    optimizer = make_optimizer(with_train(optimizer=name, learning_rate=0.01))
    assert type(optimizer).__name__ == kind
    assert float(optimizer.learning_rate) == pytest.approx(0.01)


def test_cosine_decays_to_zero_and_warmup_rises_first():
    cosine = learning_rate(with_train(schedule="cosine", epochs=4, learning_rate=0.01), 10)
    assert float(cosine(0)) == pytest.approx(0.01)
    assert float(cosine(40)) == pytest.approx(0.0, abs=1e-7)
    warm = learning_rate(
        with_train(schedule="warmup_cosine", epochs=4, warmup_epochs=1, learning_rate=0.01), 10
    )
    assert float(warm(0)) < float(warm(5)) < float(warm(10)) == pytest.approx(0.01)
    assert float(warm(40)) == pytest.approx(0.0, abs=1e-7)
    short = learning_rate(
        with_train(schedule="warmup_cosine", epochs=2, warmup_epochs=0.3, learning_rate=0.01), 10
    )
    assert float(short(3)) == pytest.approx(0.01)  # the peak after 0.3 of 10 steps


def test_label_smoothing_is_cross_entropy_against_smoothed_one_hot_targets():
    labels = np.array([0, 3])
    probabilities = np.full((2, 10), 0.05, np.float32)
    probabilities[[0, 1], labels] = 0.55
    smoothing = 0.1
    targets = np.full((2, 10), smoothing / 10)
    targets[[0, 1], labels] += 1 - smoothing
    expected = -(targets * np.log(probabilities)).sum(axis=1).mean()
    assert float(make_loss(smoothing)(labels, probabilities)) == pytest.approx(expected, rel=1e-5)
    plain = -np.log(0.55)
    assert float(make_loss(0.0)(labels, probabilities)) == pytest.approx(plain, rel=1e-5)


def test_a_model_with_every_knob_trains_saves_and_loads(tmp_path):
    from mnist_pipeline.modelfile import load_model

    model = build_model(
        with_model(
            arch="best",
            dropout=0.2,
            augment=MODEL.augment.model_copy(update={"rotation_degrees": 10.0}),
        ),
        with_train(schedule="warmup_cosine", label_smoothing=0.1, optimizer="adamw", epochs=1),
        2,
    )
    images = np.random.default_rng(2).random((16, 28, 28, 1), dtype=np.float32)
    model.fit(images, np.arange(16) % 10, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5, atol=1e-6
    )
