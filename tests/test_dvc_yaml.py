"""dvc.yaml stays true to the code: each stage depends on exactly the modules it imports."""

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

DVC_YAML = yaml.safe_load((REPO / "dvc.yaml").read_text())
PACKAGE = "mnist_pipeline"


def imported_modules(path: Path) -> set[str]:
    """Package modules imported anywhere in ``path`` (function-level imports too)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(a.name for a in node.names if a.name.startswith(PACKAGE))
    return modules


def module_closure(script: Path) -> set[str]:
    """Files of every package module ``script`` imports, directly or not, and the package."""
    files, pending = {f"{PACKAGE}/__init__.py"}, list(imported_modules(script))
    while pending:
        relative = pending.pop().replace(".", "/") + ".py"
        if relative not in files:
            files.add(relative)
            pending.extend(imported_modules(REPO / relative))
    return files


@pytest.mark.parametrize("stage", list(DVC_YAML["stages"]))
def test_stage_deps_list_its_script_and_exactly_the_modules_it_imports(stage):
    deps = DVC_YAML["stages"][stage]["deps"]
    script = f"stages/{stage}.py"
    assert script in deps
    assert f"python {script}" in DVC_YAML["stages"][stage]["cmd"]
    listed = {dep for dep in deps if dep.startswith(f"{PACKAGE}/")}
    assert listed == module_closure(REPO / script)


def test_stages_run_in_the_documented_order():
    assert list(DVC_YAML["stages"]) == ["download", "preprocess", "train", "evaluate", "report"]


@pytest.mark.parametrize(
    ("stage", "sections"),
    [
        ("download", ["data"]),
        ("preprocess", ["seed", "preprocess"]),
        ("train", ["seed", "model", "train"]),
        ("evaluate", None),
        ("report", ["report"]),
    ],
)
def test_each_stage_tracks_only_the_params_it_reads(stage, sections):
    assert DVC_YAML["stages"][stage].get("params") == sections
