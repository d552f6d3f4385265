"""Atomic outputs that fail on a real disk: the one-line error names the output that failed.

Several outputs are written under temporary names at once (atomic_paths, or
nested atomic_path), and a failed write unwinds through all of them; the error
must name the output the write was for, not whichever output happens to see it
first. The faults are real: a full or read-only tmpfs (Linux, root).
"""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mnist_pipeline.atomic import atomic_path, atomic_paths
from mnist_pipeline.errors import PipelineError
from tests.disks import contents, mount_tmpfs

TOO_BIG = 1 << 20  # bytes: far more than the small disk holds


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 64 KiB file system, holding previous outputs that must survive."""
    point = tmp_path / "disk"
    mount_tmpfs(point, "size=64k")
    for name in ("models/model.onnx", "metrics/export.json", "plots/curves/previous.txt"):
        (point / name).parent.mkdir(parents=True, exist_ok=True)
        (point / name).write_text(f"the previous {name}")
    yield point
    subprocess.run(["umount", str(point)], check=True)


def remount_read_only(point: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)


def assert_names(error: pytest.ExceptionInfo, output: Path, reason: str) -> None:
    assert str(error.value) == f"cannot write {output}: {reason}; nothing was replaced"


def test_a_full_disk_in_the_first_of_two_outputs_names_the_first(small_disk):
    # The export stage's case: the ONNX model does not fit, the parity JSON would.
    model, parity = small_disk / "models/model.onnx", small_disk / "metrics/export.json"
    before = contents(small_disk)
    with pytest.raises(PipelineError) as error, atomic_paths(model, parity) as (model_file, _):
        model_file.write_bytes(os.urandom(TOO_BIG))  # the system names no file here
    assert_names(error, model, "No space left on device")
    assert contents(small_disk) == before  # no new bytes, no temporaries


def test_a_full_disk_in_the_second_output_written_through_a_file_object_names_the_second(
    small_disk,
):
    model, parity = small_disk / "models/model.onnx", small_disk / "metrics/export.json"
    before = contents(small_disk)
    with pytest.raises(PipelineError) as error, atomic_paths(model, parity) as files:
        files[0].write_bytes(b"a small model")  # fits, and is complete
        with files[1].open("wb") as file:  # as numpy and h5py write: no file name in the error
            np.savez(file, noise=np.random.default_rng(0).random(TOO_BIG // 8))
    assert_names(error, parity, "No space left on device")
    assert contents(small_disk) == before


def test_a_refused_open_names_its_output_though_another_was_written_after_it(small_disk, tmp_path):
    # The system names the file it would not open: that beats "the newest output".
    model, parity = small_disk / "models/model.onnx", tmp_path / "metrics/export.json"
    before = contents(small_disk)
    with pytest.raises(PipelineError) as error, atomic_paths(model, parity) as files:
        files[1].write_text("{}")
        remount_read_only(small_disk)  # as ext4 does on a disk error (errors=remount-ro)
        files[0].write_bytes(b"a small model")
    assert_names(error, model, "Read-only file system")
    assert contents(small_disk) == before
    assert list(parity.parent.iterdir()) == []


def test_a_disk_turned_read_only_keeps_the_error_though_a_draft_cannot_be_removed(small_disk):
    model, parity = small_disk / "models/model.onnx", small_disk / "metrics/export.json"
    before = contents(small_disk)
    with pytest.raises(PipelineError) as error, atomic_paths(model, parity) as files:
        files[0].write_bytes(b"a draft")
        remount_read_only(small_disk)
        files[0].write_bytes(b"a small model")
    assert_names(error, model, "Read-only file system")
    left = contents(small_disk)
    drafts = [name for name in left if Path(name).name.startswith(".model.")]
    assert [left.pop(name) for name in drafts] == [b"a draft"]  # for the next write to remove
    assert left == before


def test_a_full_disk_in_an_outer_folder_output_names_the_folder(small_disk):
    # The train stage's case: the curves folder, then the model file, opened nested.
    curves, model = small_disk / "plots/curves", small_disk / "models/model.onnx"
    before = contents(small_disk)
    with (
        pytest.raises(PipelineError) as error,
        atomic_path(curves, directory=True) as curves_folder,
        atomic_path(model),
    ):
        (curves_folder / "metrics.json").write_bytes(os.urandom(TOO_BIG))
    assert_names(error, curves, "No space left on device")
    assert contents(small_disk) == before


def test_an_error_about_an_input_is_raised_as_it_is(tmp_path):
    # Not a write at all: "cannot write <output>" would send the user to the wrong file.
    output, missing_input = tmp_path / "out.json", tmp_path / "missing.npz"
    output.write_text("the previous output")
    with pytest.raises(FileNotFoundError) as error, atomic_paths(output) as (temporary,):
        temporary.write_text("half")
        missing_input.read_bytes()
    assert Path(error.value.filename) == missing_input
    assert contents(tmp_path) == {"out.json": b"the previous output"}
