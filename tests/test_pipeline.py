"""The real `dvc` on a copy of the project in a temporary git repo, on a reduced config."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, tiny_params, write_params

pytestmark = pytest.mark.slow
PROJECT_FILES = ("dvc.yaml", "stages", "mnist_pipeline", ".dvcignore")
STAGES = ("download", "preprocess", "train", "evaluate", "report")


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the dvc installed next to this Python, with that Python first on PATH."""
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "DVC_NO_ANALYTICS": "1",
    }
    return subprocess.run(
        [str(bin_dir / "dvc"), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def git(project: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=project,
        check=True,
        capture_output=True,
    )


def stages_run(result: subprocess.CompletedProcess) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in result.stdout]


def metrics(project: Path) -> dict:
    return json.loads((project / "metrics/test.json").read_text())


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_mnist_file, tiny_mnist) -> Path:
    """A fresh git + DVC repo holding the pipeline, set to read the tiny digits."""
    root = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    write_params(root / "params.yaml", tiny_params(tiny_mnist_file, tiny_mnist))
    git(root, "init", "-q")
    assert dvc(root, "init", "-q").returncode == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "pipeline")
    result = dvc(root, "repro")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stages_run(result) == list(STAGES)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first run")
    return root


def test_repro_is_a_no_op_right_after(project):
    assert dvc(project, "status").stdout.strip() == "Data and pipelines are up to date."
    result = dvc(project, "repro")
    assert result.returncode == 0 and stages_run(result) == []


def test_metrics_show_has_test_accuracy(project):
    result = dvc(project, "metrics", "show", "--json")
    shown = json.loads(result.stdout)
    test_metrics = shown[""]["data"]["metrics/test.json"]["data"]
    assert 0.5 < test_metrics["accuracy"] <= 1.0
    assert "loss" in test_metrics


def test_plots_show_writes_the_confusion_matrix_and_curves(project):
    result = dvc(project, "plots", "show", "-o", "rendered")
    assert result.returncode == 0, result.stderr
    page = (project / "rendered/index.html").read_text()
    for title in ("Confusion matrix", "Loss per epoch", "Accuracy per epoch"):
        assert title in page
    assert "confusion_matrix.png" in page


def test_a_report_param_reruns_only_the_report(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["report"]["sample_images"] = 4
    write_params(project / "params.yaml", params)
    try:
        assert stages_run(dvc(project, "repro")) == ["report"]
    finally:
        git(project, "checkout", "--", "params.yaml")
        dvc(project, "checkout", "-q")


def test_an_experiment_on_epochs_reruns_train_evaluate_report_only(project):
    result = dvc(project, "exp", "run", "-S", "train.epochs=2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stages_run(result) == ["train", "evaluate", "report"]
    shown = dvc(project, "exp", "show", "--json")
    assert "train.epochs" in shown.stdout or '"epochs": 2' in shown.stdout
    diff = dvc(project, "metrics", "diff", "--json")
    assert "metrics/test.json" in diff.stdout


def snapshot(project: Path) -> dict[str, bytes]:
    """The bytes of dvc.lock, the model and every committed metric and plot."""
    paths = [
        project / "dvc.lock",
        project / "models/model.keras",
        *sorted((project / "metrics").glob("*.json")),
        *sorted(
            path
            for path in (project / "plots").rglob("*")
            if path.is_file() and ".tmp" not in str(path)
        ),
    ]
    return {str(path.relative_to(project)): path.read_bytes() for path in paths}


def test_a_forced_rerun_gives_identical_metrics_and_another_seed_does_not(project):
    first = {path.name: path.read_bytes() for path in (project / "metrics").glob("*.json")}
    assert dvc(project, "repro", "-f").returncode == 0
    again = {path.name: path.read_bytes() for path in (project / "metrics").glob("*.json")}
    assert again == first
    result = dvc(project, "exp", "run", "-S", "seed=7")
    assert result.returncode == 0, result.stderr
    assert metrics(project) != json.loads(first["test.json"])
    git(project, "checkout", "--", ".")
    assert dvc(project, "checkout", "-q", "--force").returncode == 0


def test_a_refused_experiment_changes_neither_outputs_nor_lock(project):
    before = snapshot(project)
    result = dvc(project, "exp", "run", "-S", "train.epochs=-5")
    assert result.returncode != 0
    assert "error: params.yaml: train.epochs: -5 is not allowed" in result.stdout + result.stderr
    assert snapshot(project) == before
    git(project, "checkout", "--", "params.yaml")  # `-S` wrote -5 there, as DVC does
    assert dvc(project, "status").stdout.strip() == "Data and pipelines are up to date."


def test_a_killed_repro_leaves_lock_and_outputs_matching_and_the_next_one_recovers(project):
    before = snapshot(project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["epochs"] = 300
    write_params(project / "params.yaml", params)
    bin_dir = Path(sys.executable).parent
    process = subprocess.Popen(
        [str(bin_dir / "dvc"), "repro"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )
    for line in process.stdout:
        if "Epoch 2/" in line:
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert snapshot(project) == before

    git(project, "checkout", "--", "params.yaml")
    assert dvc(project, "status").stdout.strip() == "Data and pipelines are up to date."
    result = dvc(project, "repro")
    assert result.returncode == 0 and stages_run(result) == []
