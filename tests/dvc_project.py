"""A copy of the project in a temporary git + DVC repo, and the real `dvc` and `git` to drive it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO, tiny_params, tiny_sources, write_params

# What a clone of the project holds that the pipeline needs; params and sources are the tests'.
PROJECT_FILES = ("dvc.yaml", "paths.yaml", "stages", "mnist_pipeline", ".dvcignore", ".gitignore")
# The default pipeline's stages; the matrix stages (the opt-in ensemble) are empty by default.
STAGES = tuple(
    name
    for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items()
    if "matrix" not in stage
)
BIN = Path(sys.executable).parent


def environment() -> dict[str, str]:
    """This Python's dvc and stages first on PATH; no TensorFlow chatter, no analytics."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "DVC_NO_ANALYTICS": "1",
    }


def dvc(project: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "dvc"), *args],
        cwd=project,
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def git(project: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def stages_run(result: subprocess.CompletedProcess) -> list[str]:
    return [stage for stage in STAGES if f"Running stage '{stage}'" in result.stdout]


def stages_restored(result: subprocess.CompletedProcess) -> list[str]:
    """Stages whose outputs DVC took from its run-cache instead of running them."""
    return [
        stage
        for stage in STAGES
        if f"Stage '{stage}' is cached - skipping run, checking out outputs" in result.stdout
    ]


def make_project(root: Path, source_file: Path, data) -> Path:
    """The pipeline in a fresh git + DVC repo at ``root``, run once and committed."""
    root.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / name)
    write_params(root / "params.yaml", tiny_params())
    write_params(root / "data/sources.yaml", tiny_sources(source_file, data))
    git(root, "init", "-q", "-b", "main")
    assert dvc(root, "init", "-q").returncode == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "pipeline")
    result = dvc(root, "repro")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stages_run(result) == list(STAGES)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first run")
    return root


def git_status(project: Path) -> str:
    return git(project, "status", "--porcelain")
