"""The batches training sees: every image once an epoch, a fresh order each epoch, no tuning."""

import numpy as np

from mnist_pipeline.dataset import Split
from mnist_pipeline.training import batches, make_deterministic

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
