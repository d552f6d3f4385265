"""The pure data functions: normalisation, raw-array checks, the stratified split, .npz loading."""

import io
import zipfile

import numpy as np
import pytest

from mnist_pipeline.atomic import write_npz
from mnist_pipeline.dataset import RawData, Split, check_raw
from mnist_pipeline.errors import MissingInputError, PipelineError
from mnist_pipeline.preprocess import stratified_split


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda x, y: (x.astype(np.float32) / 255, y), "x: dtype float32, expected uint8"),
        (lambda x, y: (x[..., None], y), r"x: shape \(\d+, 28, 28, 1\), expected \(N, 28, 28\)"),
        (lambda x, y: (np.repeat(x[..., None], 3, -1), y), "x: shape"),
        (lambda x, y: (x, y[:-5]), r"y: shape \(\d+,\), expected \(\d+,\) to match images"),
        (lambda x, y: (x, y + 10), "y: labels span 10..19, expected 0..9"),
    ],
    ids=["float-pixels", "channel-axis", "rgb", "short-labels", "labels-out-of-range"],
)
def test_a_corrupt_split_is_refused_naming_the_file_and_the_problem(
    tmp_path, tiny_mnist, change, message
):
    path = tmp_path / "train.npz"
    write_npz(path, **dict(zip("xy", change(tiny_mnist.x_test, tiny_mnist.y_test), strict=True)))
    with pytest.raises(PipelineError, match=message) as error:
        Split.load(path)
    assert str(error.value).startswith(f"{path}: ")


def test_check_raw_accepts_mnist_shaped_data(tiny_mnist):
    check_raw(tiny_mnist)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x_train": lambda x: x.astype(np.float32)}, "x_train: dtype float32, expected uint8"),
        ({"x_test": lambda x: x[:, :20]}, "x_test: shape"),
        ({"y_train": lambda y: y[:-1]}, "y_train: shape"),
        ({"y_test": lambda y: y + 5}, "y_test: labels span"),
        ({"y_train": lambda y: np.where(y == 3, 4, y)}, r"y_train: no examples of class \[3\]"),
        ({"y_test": lambda y: y.astype(np.float64)}, "y_test: dtype float64, expected integer"),
    ],
)
def test_check_raw_names_the_first_problem(tiny_mnist, change, message):
    arrays = {key: getattr(tiny_mnist, key) for key in ("x_train", "y_train", "x_test", "y_test")}
    for key, transform in change.items():
        arrays[key] = transform(arrays[key])
    with pytest.raises(PipelineError, match=message):
        check_raw(RawData(**arrays))


def test_stratified_split_is_disjoint_complete_and_keeps_class_proportions():
    labels = np.repeat(np.arange(10), [500, 600, 500, 550, 480, 450, 500, 520, 490, 510])
    train, val = stratified_split(labels, 0.1, seed=1)
    assert len(np.intersect1d(train, val)) == 0
    assert len(train) + len(val) == len(labels)
    assert len(val) == pytest.approx(0.1 * len(labels), abs=1)
    val_share = np.bincount(labels[val]) / len(val)
    all_share = np.bincount(labels) / len(labels)
    np.testing.assert_allclose(val_share, all_share, atol=0.005)


def test_stratified_split_depends_on_the_seed_only():
    labels = np.repeat(np.arange(10), 100)
    first, again, other = (stratified_split(labels, 0.2, seed) for seed in (7, 7, 8))
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_stratified_split_with_a_subset_keeps_every_class():
    labels = np.repeat(np.arange(10), 300)
    train, val = stratified_split(labels, 0.1, seed=0, subset=1000)
    assert len(train) + len(val) == 1000
    assert np.all(np.bincount(labels[val], minlength=10) == 10)


def test_stratified_split_with_too_few_images_of_a_class_says_so():
    labels = np.array([0, 0, 0, 1])
    with pytest.raises(PipelineError, match="cannot make a stratified validation split"):
        stratified_split(labels, 0.5, seed=0)


def test_split_round_trips_through_npz(tmp_path, tiny_mnist):
    split = Split(tiny_mnist.x_test, tiny_mnist.y_test)
    split.save(tmp_path / "train.npz")
    loaded = Split.load(tmp_path / "train.npz")
    np.testing.assert_array_equal(loaded.x, split.x)
    np.testing.assert_array_equal(loaded.y, split.y)
    assert [p.name for p in tmp_path.iterdir()] == ["train.npz"]  # no temporary left behind


def test_loading_a_missing_file_says_what_to_run(tmp_path):
    with pytest.raises(MissingInputError, match=r"raw MNIST not found; run `dvc repro`"):
        RawData.load(tmp_path / "mnist.npz")


def test_loading_a_corrupt_file_names_it(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(PipelineError, match=r"mnist.npz: not a readable raw MNIST .npz file"):
        RawData.load(path)


def test_loading_refuses_pickled_object_arrays(tmp_path):
    path = tmp_path / "mnist.npz"
    with path.open("wb") as file:
        np.savez(file, x=np.array([object()], dtype=object), y=np.arange(1))
    with pytest.raises(PipelineError, match="not a readable processed split"):
        Split.load(path)


def test_a_write_removes_temporaries_left_by_a_killed_run(tmp_path):
    (tmp_path / ".train.abc123.tmp.npz").write_bytes(b"half-written")
    (tmp_path / ".other.abc123.tmp.npz").write_bytes(b"not ours")
    write_npz(tmp_path / "train.npz", x=np.zeros((1, 28, 28), np.uint8))
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".other.abc123.tmp.npz",
        "train.npz",
    ]


def test_a_header_claiming_more_images_than_the_file_holds_is_refused_before_allocating(
    tmp_path, tiny_mnist
):
    path = tmp_path / "mnist.npz"
    tiny_mnist.save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    lying = io.BytesIO()  # a valid .npy header that claims 10^11 images
    header = {"descr": "|u1", "fortran_order": False, "shape": (10**11, 28, 28)}
    np.lib.format.write_array_header_1_0(lying, header)
    members["x_train.npy"] = lying.getvalue() + tiny_mnist.x_train.tobytes()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(PipelineError, match=r"array x_train claims shape \(100000000000, 28, 28\)"):
        RawData.load(path)
