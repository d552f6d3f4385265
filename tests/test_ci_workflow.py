"""The CI workflow: valid for GitHub, and true to the platforms the README claims.

A schema error in .github/workflows/ci.yml shows only once pushed, as a run that never
starts; check-jsonschema (a dev dependency that ships GitHub's workflow schema, so no
network) finds it here. The matrix is checked against pyproject.toml's requires-python,
so a Python the project starts or stops supporting changes CI as well.
"""

import itertools
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from tests.conftest import REPO

WORKFLOW = REPO / ".github/workflows/ci.yml"
CLAIMED_SYSTEMS = {"ubuntu-latest", "macos-latest", "windows-latest"}  # the README's
MATRIX_AXES = ("os", "python")
# .ci/run, or `make test` but not `make test-fast`: what runs every test.
FULL_SUITE_COMMAND = re.compile(r"\.ci/run\b|\bmake test(?![-\w])")


def check_jsonschema() -> str:
    """The dev dependency's executable beside this Python (check-jsonschema.exe on Windows)."""
    found = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("check-jsonschema is not installed beside this Python: run `make install-dev`")
    return found


def lint_workflow(path: Path) -> subprocess.CompletedProcess:
    """GitHub's workflow schema as check-jsonschema vendors it: no download."""
    command = [check_jsonschema(), "--builtin-schema", "vendor.github-workflows", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def load_workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def admitted_pythons(requires_python: str) -> set[str]:
    """Every Python 3 minor version a requires-python specifier admits, as "3.X"."""
    admitted = SpecifierSet(requires_python)
    # Minor versions only: setup-python installs the newest patch release of each.
    return {f"3.{minor}" for minor in range(100) if f"3.{minor}" in admitted}


def supported_pythons() -> set[str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return admitted_pythons(pyproject["project"]["requires-python"])


def matrix_runs(matrix: dict) -> set[tuple[str, str]]:
    """The (os, python) pairs a matrix runs: its product, less `exclude`, plus `include`."""
    product = [
        dict(zip(MATRIX_AXES, values, strict=True))
        for values in itertools.product(*(matrix[axis] for axis in MATRIX_AXES))
    ]
    excluded = matrix.get("exclude", [])
    kept = [run for run in product if not any(e.items() <= run.items() for e in excluded)]
    added = [entry for entry in matrix.get("include", []) if set(MATRIX_AXES) <= entry.keys()]
    return {(run["os"], run["python"]) for run in kept + added}


def step_commands(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def matrix_job(workflow: dict) -> dict:
    (job,) = [job for job in workflow["jobs"].values() if "matrix" in job.get("strategy", {})]
    return job


def full_suite_jobs(workflow: dict) -> list[dict]:
    return [
        job
        for job in workflow["jobs"].values()
        if any(FULL_SUITE_COMMAND.search(command) for command in step_commands(job))
    ]


def test_the_workflow_passes_githubs_schema():
    result = lint_workflow(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_fails_on_a_job_without_runs_on(tmp_path):
    # Proves the lint above can fail at all: a job with no runner is what GitHub refuses.
    lines = WORKFLOW.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.strip().startswith("runs-on:")]
    assert len(kept) < len(lines), "the workflow has no runs-on line to remove"
    broken = tmp_path / "ci.yml"
    broken.write_text("".join(kept), encoding="utf-8")

    result = lint_workflow(broken)

    assert result.returncode != 0
    assert "'runs-on' is a required property" in result.stdout


def test_requires_python_reads_as_the_minor_versions_it_admits():
    assert admitted_pythons(">=3.11,<3.14") == {"3.11", "3.12", "3.13"}


def test_the_matrix_runs_every_claimed_system_with_every_supported_python():
    # Versions are compared as strings: an unquoted 3.10 in YAML is the float 3.1.
    expected = set(itertools.product(CLAIMED_SYSTEMS, supported_pythons()))
    job = matrix_job(load_workflow())
    assert matrix_runs(job["strategy"]["matrix"]) == expected
    # One platform failing must not cancel the others and hide how they fare.
    assert job["strategy"]["fail-fast"] is False


def test_the_matrix_runs_the_fast_suite_as_the_readme_does():
    commands = "\n".join(step_commands(matrix_job(load_workflow())))
    assert "make test-fast" in commands  # Linux and macOS
    assert '.venv\\Scripts\\python -m pytest -m "not slow"' in commands  # Windows, no make


def test_one_linux_job_runs_the_full_suite_with_a_supported_python():
    (job,) = full_suite_jobs(load_workflow())
    assert job["runs-on"].startswith("ubuntu-")
    pythons = [
        step["with"]["python-version"]
        for step in job["steps"]
        if step.get("uses", "").startswith("actions/setup-python@")
    ]
    assert len(pythons) == 1
    assert pythons[0] in supported_pythons()
