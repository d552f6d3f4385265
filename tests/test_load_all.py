"""Reading many image files: the worker processes give exactly what one process gives."""

import multiprocessing
import os

import numpy as np
import pytest

from mnist_predict.reading import PARALLEL_FROM, digit_or_reason, load_all, reading
from tests.conftest import as_photo

needs_two_cores = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="one CPU core: the images are read in this process",
)


def digit_files(folder, tiny_mnist, count=PARALLEL_FROM + 6):
    files = []
    for index in range(count):
        path = folder / f"{index:03d}.png"
        as_photo(tiny_mnist.x_test[index], mode="L").save(path)
        files.append(path)
    return files


@needs_two_cores
def test_a_large_batch_read_in_workers_matches_one_process(tmp_path, tiny_mnist):
    files = digit_files(tmp_path, tiny_mnist)
    files[5].write_text("not pixels")  # a reason travels back from a worker too
    parallel = load_all(files)
    assert parallel[5] == "not an image (Pillow cannot identify it)"
    for path, digit in zip(files, parallel, strict=True):
        expected = digit_or_reason(path)
        if isinstance(expected, str):
            assert digit == expected
        else:
            np.testing.assert_array_equal(digit, expected)


@needs_two_cores
def test_an_error_while_the_workers_read_stops_them(tmp_path, tiny_mnist):
    # mnist-predict loads the model while the workers read: a bad model ends the reading.
    files = digit_files(tmp_path, tiny_mnist)
    with pytest.raises(RuntimeError, match="the model is bad"), reading(files):
        assert multiprocessing.active_children()  # the workers read meanwhile
        raise RuntimeError("the model is bad")
    assert not multiprocessing.active_children()
