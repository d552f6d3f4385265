"""What the system says no to: a full disk, a read-only file system, no permission.

Each stage writes its outputs into a real small tmpfs (full) or a read-only
mount while its inputs sit elsewhere; it must fail with one line naming the
output, exit 1, and leave the previous outputs byte for byte, with no
temporary left. Mounting needs root, which CI has.
"""

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stages import download, evaluate, preprocess, report, train
from tests.conftest import REPO, Workspace, run_stage, tiny_params, write_params
from tests.disks import contents, mount_tmpfs

pytestmark = pytest.mark.slow  # trains models or starts processes that load TensorFlow

# Each stage's outputs, as Workspace attributes (dvc.yaml names the paths themselves).
OUTPUTS = {
    "preprocess": ["processed"],
    "train": ["model", "training"],
    "evaluate": ["evaluate_metrics", "per_class", "predictions", "gallery"],
    "report": ["report"],
    "export": ["onnx", "parity"],
}
# The output that overflows the small disk: the others are far smaller and would fit.
# A stage with several outputs must name this one, whatever order it opened them in.
DOES_NOT_FIT = {
    "preprocess": "processed",
    "train": "model",
    "evaluate": "gallery",
    "report": "report",
    "export": "onnx",  # the ONNX model (hundreds of KiB); the parity JSON is a few bytes
}
FOLDERS = {"processed", "training", "report"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, sources_file) -> Workspace:
    """Every stage's inputs, made once by the real stages."""
    workspace = Workspace(tmp_path_factory.mktemp("inputs"), sources=sources_file)
    write_params(workspace.params, tiny_params())
    for stage in (download, preprocess, train, evaluate, report):
        stage.main(workspace.arguments(stage.__name__.rsplit(".", 1)[-1]))
    return workspace


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 64 KiB file system: room for the previous outputs, none for the new ones."""
    point = tmp_path / "disk"
    mount_tmpfs(point, "size=64k")
    yield point
    subprocess.run(["umount", str(point)], check=True)


def with_outputs_in(inputs: Workspace, stage: str, folder: Path) -> Workspace:
    """The stage reads ``inputs`` and writes under ``folder``, where previous outputs lie."""
    workspace = copy.copy(inputs)
    for name in OUTPUTS[stage]:
        path = folder / getattr(inputs, name).relative_to(inputs.root)
        setattr(workspace, name, path)
        if name in FOLDERS:
            path.mkdir(parents=True)
            (path / "previous.txt").write_text(f"the previous {name}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"the previous {name}")
    return workspace


def assert_one_line(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert text in result.stderr, result.stderr


@pytest.mark.parametrize("stage", list(OUTPUTS))
def test_a_full_disk_stops_the_stage_in_one_line_and_keeps_the_previous_outputs(
    inputs, small_disk, stage
):
    workspace = with_outputs_in(inputs, stage, small_disk)
    before = contents(small_disk)
    result = run_stage(stage, *workspace.arguments(stage))
    overflowing = getattr(workspace, DOES_NOT_FIT[stage])
    assert_one_line(
        result, f"cannot write {overflowing}: No space left on device; nothing was replaced"
    )
    assert contents(small_disk) == before  # no new bytes, no temporaries


@pytest.mark.parametrize("stage", list(OUTPUTS))
def test_a_read_only_file_system_stops_the_stage_in_one_line(inputs, small_disk, stage):
    workspace = with_outputs_in(inputs, stage, small_disk)
    before = contents(small_disk)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    result = run_stage(stage, *workspace.arguments(stage))
    assert_one_line(result, "Read-only file system")
    assert contents(small_disk) == before


def test_a_folder_without_write_permission_stops_the_stage_in_one_line(inputs, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes through permissions; the other mounts cover root")
    locked = tmp_path / "locked"
    workspace = with_outputs_in(inputs, "evaluate", locked)
    before = contents(locked)
    for folder in {path.parent for path in locked.rglob("*")}:
        folder.chmod(0o555)
    result = run_stage("evaluate", *workspace.arguments("evaluate"))
    assert_one_line(result, "Permission denied")
    assert contents(locked) == before


def test_a_grid_that_cannot_be_written_is_one_line_after_the_predictions(inputs, small_disk):
    image = small_disk.parent / "digit.png"
    from PIL import Image

    Image.fromarray(255 - inputs_digit(inputs)).save(image)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    command = Path(sys.executable).parent / "mnist-predict"
    result = subprocess.run(
        [str(command), "--model", str(inputs.model), "--grid", str(small_disk / "grid.png"),
         str(image)],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    assert "digit.png" in result.stdout  # the table came first
    assert_one_line(result, f"cannot write {small_disk / 'grid.png'}: Read-only file system")


def inputs_digit(inputs: Workspace):
    from mnist_pipeline.dataset import Split, split_path

    return Split.load(split_path(inputs.processed, "test")).x[0]
