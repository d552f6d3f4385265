"""The batches training sees (every image once an epoch, a fresh order each epoch, no tuning),
and the steps it takes on them."""

import numpy as np

from mnist_pipeline import training
from mnist_pipeline.dataset import Split
from mnist_pipeline.params.train import TrainParams, model_params
from mnist_pipeline.training import batches, make_deterministic
from tests.conftest import tiny_model, tiny_params

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
