"""TF_CONFIG read without TensorFlow: who is the chief, what is refused, where workers write."""

import json

import pytest

from mnist_pipeline.cluster import is_chief, output_paths
from mnist_pipeline.errors import PipelineError
from tests.conftest import run_stage, tiny_params, write_params

WORKERS = ["127.0.0.1:20000", "127.0.0.1:20001"]


def tf_config(task_type: str, index, **cluster) -> dict[str, str]:
    config = {
        "cluster": cluster or {"worker": WORKERS},
        "task": {"type": task_type, "index": index},
    }
    return {"TF_CONFIG": json.dumps(config)}


@pytest.mark.parametrize(
    ("environ", "chief"),
    [
        (tf_config("worker", 0), True),
        (tf_config("worker", 1), False),
        (tf_config("chief", 0, chief=["127.0.0.1:19999"], worker=WORKERS), True),
        (tf_config("worker", 0, chief=["127.0.0.1:19999"], worker=WORKERS), False),
    ],
)
def test_the_chief_is_the_chief_task_or_else_worker_0(environ, chief):
    assert is_chief("multi_worker", environ) is chief


@pytest.mark.parametrize("distribute", ["auto", "none", "mirrored"])
def test_one_process_always_writes_its_outputs_whatever_tf_config_says(distribute):
    assert is_chief(distribute, tf_config("worker", 1))


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "train.distribute is multi_worker, but TF_CONFIG is not set: each machine needs one"),
        ({"TF_CONFIG": "{cluster"}, "TF_CONFIG: not JSON (Expecting property name"),
        ({"TF_CONFIG": '{"task": {"type": "worker", "index": 0}}'}, "TF_CONFIG: no 'cluster' key"),
        ({"TF_CONFIG": "[1, 2]"}, "TF_CONFIG: cluster and task must be objects"),
        (
            tf_config("ps", 0, ps=WORKERS),
            "TF_CONFIG: task type 'ps' is not one of ('chief', 'worker')",
        ),
        (tf_config("worker", 2), "TF_CONFIG: task index 2 is not one of the 2 worker address(es)"),
        (tf_config("worker", "0"), "TF_CONFIG: task index '0' is not one of the 2 worker"),
    ],
)
def test_a_missing_or_malformed_tf_config_is_refused_in_one_line(environ, expected):
    with pytest.raises(PipelineError) as error:
        is_chief("multi_worker", environ)
    assert str(error.value).startswith(expected)
    assert "\n" not in str(error.value)


def test_the_chief_writes_in_place_and_another_worker_leaves_nothing(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)  # read TMPDIR again
    live, model = tmp_path / "live", tmp_path / "model.keras"
    for chief in (False, True):
        with output_paths(live, model, chief=chief) as (live_dir, model_file):
            live_dir.mkdir(exist_ok=True)  # made already on the chief
            (live_dir / "metrics.json").write_text("{}")
            model_file.write_bytes(b"weights")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["live", "model.keras", "tmp"]
    assert list(scratch.iterdir()) == []


def test_the_train_stage_refuses_multi_worker_without_tf_config(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    params = write_params(
        tmp_path / "params.yaml", tiny_params(train={"distribute": "multi_worker"})
    )
    result = run_stage(
        "train", "--params", str(params), "--data", str(tmp_path / "data"),
        "--model", str(tmp_path / "model.keras"), "--live", str(tmp_path / "live"),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: train.distribute is multi_worker, but TF_CONFIG")
    assert len(result.stderr.splitlines()) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["params.yaml"]


@pytest.mark.parametrize(
    ("version", "applies"),
    [("3.15.1", True), ("3.15.0", True), ("3.16.0", False), ("4.0.0", False)],
)
def test_the_keras_mend_applies_only_to_the_releases_it_was_tested_with(version, applies):
    from mnist_pipeline.keras_mends import mend_applies

    assert mend_applies(version) is applies


def test_the_installed_keras_is_one_the_mend_was_tested_with():
    """Fails on a Keras upgrade: run bench/multi_worker_check.py, then update MENDED_RELEASES."""
    from mnist_pipeline.keras_mends import mend_applies

    assert mend_applies()
