"""dvc.yaml stays true to the code: each stage depends on exactly the modules it imports."""

import ast
import importlib
from pathlib import Path

import pytest
import yaml

from mnist_pipeline.params import StageParams
from tests.conftest import REPO

DVC_YAML = yaml.safe_load((REPO / "dvc.yaml").read_text())
ALL_STAGES = DVC_YAML["stages"]
# The opt-in ensemble's stages: matrices over params that are empty by default.
ENSEMBLE_STAGES = ("train_member", "evaluate_ensemble")
DEFAULT_STAGES = [name for name in ALL_STAGES if name not in ENSEMBLE_STAGES]
SCRIPTS = {  # `python -m stages.train ...` runs stages/train.py
    name: stage["cmd"].split()[2].replace(".", "/") + ".py" for name, stage in ALL_STAGES.items()
}
PACKAGE = "mnist_pipeline"
PATHS = yaml.safe_load((REPO / "paths.yaml").read_text())["paths"]


def imported_modules(path: Path) -> set[str]:
    """Package modules imported anywhere in ``path`` (function-level imports too)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(a.name for a in node.names if a.name.startswith(PACKAGE))
    return modules


def module_file(module: str) -> str:
    """The file that holds ``module``: a package's __init__.py, or the module's own .py."""
    folder = module.replace(".", "/")
    return f"{folder}/__init__.py" if (REPO / folder).is_dir() else f"{folder}.py"


def with_parents(module: str) -> list[str]:
    """Importing a.b.c runs a, a.b and a.b.c."""
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


def module_closure(script: Path) -> set[str]:
    """Files of every package module ``script`` imports, directly or not, and their packages."""
    files, pending = set(), list(imported_modules(script))
    while pending:
        for module in with_parents(pending.pop()):
            relative = module_file(module)
            if relative not in files:
                files.add(relative)
                pending.extend(imported_modules(REPO / relative))
    return files


@pytest.mark.parametrize("stage", list(ALL_STAGES))
def test_stage_deps_list_its_script_and_exactly_the_modules_it_imports(stage):
    deps = ALL_STAGES[stage]["deps"]
    script = SCRIPTS[stage]
    assert script in deps
    assert ALL_STAGES[stage]["cmd"].startswith("python -m stages.")
    listed = {dep for dep in deps if dep.startswith(f"{PACKAGE}/")}
    assert listed == module_closure(REPO / script)


def test_main_stages_run_their_namesake_scripts():
    assert all(SCRIPTS[stage] == f"stages/{stage}.py" for stage in DEFAULT_STAGES)


def test_ensemble_members_train_with_the_train_stage_and_track_what_it_reads_but_the_seed():
    member = ALL_STAGES["train_member"]
    assert SCRIPTS["train_member"] == SCRIPTS["train"]
    assert set(member["deps"]) == set(ALL_STAGES["train"]["deps"])
    assert member["params"] == [key for key in ALL_STAGES["train"]["params"] if key != "seed"]
    assert "--seed ${item.seed}" in member["cmd"]


def test_each_member_writes_its_model_where_evaluate_ensemble_reads_it():
    from mnist_pipeline.ensemble import member_file

    out = ALL_STAGES["train_member"]["outs"][0]
    resolved = out.replace("${paths.members}", PATHS["members"]).replace("${item.seed}", "3")
    assert resolved == str(member_file(PATHS["members"], 3))
    assert f"--model {out}" in ALL_STAGES["train_member"]["cmd"]
    assert "--members ${paths.members}" in ALL_STAGES["evaluate_ensemble"]["cmd"]


def outputs_of(stage: dict) -> set[str]:
    """Every path a stage writes: outs, metrics and plots (an entry may carry options)."""
    entries = [entry for kind in ("outs", "metrics", "plots") for entry in stage.get(kind, [])]
    return {next(iter(entry)) if isinstance(entry, dict) else entry for entry in entries}


def test_stages_are_listed_in_an_order_they_can_run_in():
    """Each stage after the stages that make its inputs: the tests run them in this order."""
    everything_made = set().union(*(outputs_of(ALL_STAGES[name]) for name in DEFAULT_STAGES))
    made = set()
    for name in DEFAULT_STAGES:
        inputs = set(ALL_STAGES[name]["deps"]) & everything_made
        assert inputs <= made, f"{name} is listed before the stage that makes {inputs - made}"
        made |= outputs_of(ALL_STAGES[name])


@pytest.mark.parametrize("stage", DEFAULT_STAGES)
def test_each_stage_tracks_exactly_the_params_its_schema_reads(stage):
    schema_module = REPO / PACKAGE / "params" / f"{stage}.py"
    if not schema_module.exists():  # the stage reads no params
        assert "params" not in DVC_YAML["stages"][stage]
        assert "--params" not in DVC_YAML["stages"][stage]["cmd"]
        return
    module = importlib.import_module(f"{PACKAGE}.params.{stage}")
    (schema,) = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, StageParams)
        and value.__name__.endswith("StageParams")
        and value.__module__ == module.__name__
    ]
    assert DVC_YAML["stages"][stage]["params"] == list(schema.model_fields)


def test_every_output_kept_in_git_is_a_metric_or_a_plot_so_the_run_cache_works():
    """DVC never saves a stage to its run-cache if it has a cache: false output under outs:."""
    for stage in ALL_STAGES.values():
        for out in stage.get("outs", []):
            options = next(iter(out.values())) if isinstance(out, dict) else {}
            assert options.get("cache", True), out
            assert not options.get("persist", False), out


def test_evaluate_ensemble_tracks_exactly_the_params_its_schema_reads():
    from mnist_pipeline.params.ensemble import EnsembleStageParams

    stage = ALL_STAGES["evaluate_ensemble"]
    assert stage["params"] == list(EnsembleStageParams.model_fields)


@pytest.mark.parametrize(
    ("stage", "key"), [("train_member", "seeds"), ("evaluate_ensemble", "combine")]
)
def test_the_ensemble_stages_are_matrices_over_params_that_are_empty_by_default(stage, key):
    """An empty matrix makes no stage: `dvc status` and `dvc pull` see the default pipeline."""
    (values,) = ALL_STAGES[stage]["matrix"].values()
    assert values == f"${{ensemble.{key}}}"
    from mnist_pipeline.params.ensemble import EnsembleParams

    assert EnsembleParams.model_fields[key].annotation.__origin__ is tuple


def test_check_params_runs_before_every_other_stage():
    """Every stage is downstream of download, and download depends on check_params' output."""
    (checked,) = ALL_STAGES["check_params"]["outs"]
    assert checked in ALL_STAGES["download"]["deps"]
    assert ALL_STAGES["check_params"]["params"] == sorted(
        {key for stage in ALL_STAGES.values() for key in stage.get("params", [])}
    )


def test_a_stage_run_from_a_copy_of_the_repository_imports_the_copys_code(tmp_path):
    """Queued and --temp experiments run in a copy: their stages must not run the workspace's code.

    The package is installed editable from the workspace, and a script run by its
    path (``python stages/train.py``) would find it there; ``python -m`` from the
    copy's root finds the copy's first.
    """
    import shutil
    import subprocess
    import sys

    for name in ("stages", PACKAGE):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    with (tmp_path / PACKAGE / "__init__.py").open("a") as init:
        init.write("\nprint('the copy', file=__import__('sys').stderr)\n")
    command = ALL_STAGES["train"]["cmd"].split()[:3]  # python -m stages.train
    result = subprocess.run(
        [sys.executable, *command[1:], "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "the copy" in result.stderr
