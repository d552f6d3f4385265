"""The batches training sees (every image once an epoch, a fresh order each epoch, no tuning),
the steps it takes on them, and its optimizer, schedule, loss and weight averaging."""

import keras
import numpy as np
import pytest

from mnist_pipeline import training
from mnist_pipeline.dataset import Split
from mnist_pipeline.params.train import TrainParams, model_params
from mnist_pipeline.training import (
    batches,
    build_model,
    learning_rate,
    make_deterministic,
    make_loss,
    make_optimizer,
)
from tests.conftest import tiny_model, tiny_model_params, tiny_params, tiny_train_params

# Each image is its own index, so a batch's images say which were taken.
IMAGES = np.arange(103, dtype=np.float32).reshape(103, 1, 1, 1)
SPLIT = Split(IMAGES, np.arange(103) % 10)


def epoch_order(dataset) -> list[int]:
    return [int(i) for x, _ in dataset for i in x.numpy().ravel()]


def epoch_orders(seed: int | None, epochs: int = 3) -> list[list[int]]:
    make_deterministic(0)
    dataset = batches(SPLIT, 10, seed=seed)
    return [epoch_order(dataset) for _ in range(epochs)]


def test_each_epoch_takes_every_image_once_with_its_label():
    make_deterministic(0)
    dataset = batches(SPLIT, 10, seed=1)
    sizes = [len(y) for _, y in dataset]
    assert sizes == [10] * 10 + [3]
    for x, y in dataset:  # labels come one-hot, for the smoothed loss
        assert np.array_equal(x.numpy().ravel().astype(int) % 10, y.numpy().argmax(axis=1))
    assert sorted(epoch_order(dataset)) == list(range(103))


def test_a_seed_shuffles_each_epoch_afresh_and_the_same_on_every_run():
    orders = epoch_orders(seed=7)
    assert orders[0] != list(range(103))
    assert orders[0] != orders[1] != orders[2]  # Keras's own shuffle repeated one order
    assert epoch_orders(seed=7) == orders
    assert epoch_orders(seed=8)[0] != orders[0]


def test_without_a_seed_the_order_is_kept():
    assert epoch_orders(seed=None, epochs=2) == [list(range(103))] * 2


def test_autotuning_is_off():
    # Its thread can outlive an epoch's iterator and stall the next epoch for seconds.
    assert batches(SPLIT, 10, seed=1).options().autotune.enabled is False


def trained(monkeypatch, steps_per_execution: int):
    """Two epochs of 37 steps, a number that 16 does not divide, the last batch partial."""
    monkeypatch.setattr(training, "STEPS_PER_EXECUTION", steps_per_execution)
    make_deterministic(0)
    params = tiny_params(model=tiny_model(arch="fast"), train={"epochs": 2, "batch_size": 10})
    model = training.build_model(
        model_params(params["model"]), TrainParams.model_validate(params["train"])
    )
    rng = np.random.default_rng(0)
    images = Split(rng.integers(0, 256, (365, 28, 28), dtype=np.uint8), np.arange(365) % 10)
    model.fit(batches(images, 10, seed=1), epochs=2, shuffle=False, verbose=0)
    return model


def test_several_steps_per_call_take_every_step_and_compute_the_same_weights(monkeypatch):
    assert training.STEPS_PER_EXECUTION > 1
    one_at_a_time = trained(monkeypatch, 1)
    several = trained(monkeypatch, training.STEPS_PER_EXECUTION)
    assert int(several.optimizer.iterations) == int(one_at_a_time.optimizer.iterations) == 74
    for mine, reference in zip(several.weights, one_at_a_time.weights, strict=True):
        assert np.array_equal(mine.numpy(), reference.numpy()), mine.path


@pytest.mark.parametrize(("name", "kind"), [("adam", "Adam"), ("adamw", "AdamW"), ("sgd", "SGD")])
def test_optimizer_follows_the_param(name, kind):
    optimizer = make_optimizer(tiny_train_params(optimizer=name, learning_rate=0.01))
    assert type(optimizer).__name__ == kind
    assert float(optimizer.learning_rate) == pytest.approx(0.01)


def test_cosine_decays_to_zero_and_warmup_rises_first():
    cosine = learning_rate(tiny_train_params(schedule="cosine", epochs=4, learning_rate=0.01), 10)
    assert float(cosine(0)) == pytest.approx(0.01)
    assert float(cosine(40)) == pytest.approx(0.0, abs=1e-7)
    warm = learning_rate(
        tiny_train_params(schedule="warmup_cosine", epochs=4, warmup_epochs=1, learning_rate=0.01),
        10,
    )
    assert float(warm(0)) < float(warm(5)) < float(warm(10)) == pytest.approx(0.01)
    assert float(warm(40)) == pytest.approx(0.0, abs=1e-7)
    short = learning_rate(
        tiny_train_params(
            schedule="warmup_cosine", epochs=2, warmup_epochs=0.3, learning_rate=0.01
        ),
        10,
    )
    assert float(short(3)) == pytest.approx(0.01)  # the peak after 0.3 of 10 steps


def test_label_smoothing_is_cross_entropy_against_smoothed_one_hot_targets():
    labels = np.array([0, 3])
    one_hot = np.eye(10)[labels]  # as training.batches gives them
    probabilities = np.full((2, 10), 0.05, np.float32)
    probabilities[[0, 1], labels] = 0.55
    smoothing = 0.1
    targets = np.full((2, 10), smoothing / 10)
    targets[[0, 1], labels] += 1 - smoothing
    expected = -(targets * np.log(probabilities)).sum(axis=1).mean()
    assert float(make_loss(smoothing)(one_hot, probabilities)) == pytest.approx(expected, rel=1e-5)
    plain = -np.log(0.55)
    assert float(make_loss(0.0)(one_hot, probabilities)) == pytest.approx(plain, rel=1e-5)


def test_weight_averaging_ends_with_the_average_of_the_weights():
    images = np.random.default_rng(3).integers(0, 256, (32, 28, 28), dtype=np.uint8)
    targets = np.eye(10)[np.arange(32) % 10]

    def trained(momentum: float) -> keras.Model:
        keras.utils.set_random_seed(0)
        model = build_model(
            tiny_model_params(), tiny_train_params(ema_momentum=momentum, learning_rate=0.01), 4
        )
        model.fit(images, targets, batch_size=8, epochs=2, verbose=0)
        return model

    plain, averaged = trained(0.0), trained(0.9)
    assert not plain.optimizer.use_ema and averaged.optimizer.use_ema
    averages = averaged.optimizer._model_variables_moving_average  # what fit wrote back
    for weight, average in zip(averaged.trainable_weights, averages, strict=True):
        np.testing.assert_array_equal(weight.numpy(), average.numpy())
    differs = [
        not np.array_equal(a.numpy(), b.numpy())
        for a, b in zip(plain.trainable_weights, averaged.trainable_weights, strict=True)
    ]
    assert any(differs)
