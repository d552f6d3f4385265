"""The real `dvc` on a copy of the project in a temporary git repo, on a reduced config."""

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from mnist_pipeline.errors import RESTORE_COMMAND, RESTORE_HINT
from mnist_pipeline.params.compose import compose
from tests.conftest import README, REPO, readme_output, write_params
from tests.dvc_project import (
    BIN,
    STAGES,
    dvc,
    environment,
    git,
    git_status,
    make_project,
    stages_restored,
    stages_run,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_mnist_file, tiny_mnist) -> Path:
    return make_project(tmp_path_factory.mktemp("project") / "repo", tiny_mnist_file, tiny_mnist)


@pytest.fixture
def clean(project):
    """The project as committed, after the test too: its outputs back from DVC's cache."""
    yield project
    git(project, "checkout", "-q", "--", ".")
    assert dvc(project, "checkout", "-q", "--force").returncode == 0


def snapshot(project: Path) -> dict[str, bytes]:
    """The bytes of dvc.lock, the model, the report and every committed metric and plot.

    Left out: temporaries of a stage killed outright (SIGKILL), which cannot
    clean up; git ignores them and that stage's next run removes them.
    """
    paths = [
        project / "dvc.lock",
        *sorted((project / "models").iterdir()),
        *sorted(path for folder in ("metrics", "plots") for path in (project / folder).rglob("*")),
    ]
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in paths
        if path.is_file() and ".tmp" not in str(path)
    }


def test_repro_is_a_no_op_right_after(project):
    assert dvc(project, "status").stdout.strip() == "Data and pipelines are up to date."
    result = dvc(project, "repro")
    assert result.returncode == 0 and stages_run(result) == []


def test_metrics_show_has_test_accuracy(project):
    result = dvc(project, "metrics", "show", "--json")
    shown = json.loads(result.stdout)
    scores = shown[""]["data"]["metrics/evaluate.json"]["data"]
    assert 0.5 < scores["test"]["accuracy"] <= 1.0
    assert "loss" in scores["test"] and "accuracy" in scores["val"]


def test_metrics_show_fits_120_columns_with_the_test_accuracy_first(project):
    lines = dvc(project, "metrics", "show").stdout.splitlines()
    assert max(map(len, lines)) <= 120, "\n".join(lines)
    assert lines[0].split()[:2] == ["Path", "test.accuracy"]
    assert lines[0].split() == readme_output("dvc metrics show")[0].split()  # as the README shows


def test_the_readme_draws_the_graph_dvc_dag_prints(project):
    printed = dvc(project, "dag", "--md").stdout.strip()
    assert printed.startswith("```mermaid") and printed in README


def test_exp_show_starts_with_the_test_accuracy(project):
    """A pager shows the first 120 columns: the test accuracy is the first metric there."""
    header = dvc(project, "exp", "show", "--csv").stdout.splitlines()[0].split(",")
    # --csv adds the columns the table merges into "Experiment": rev, typ and parent.
    assert header[: header.index("test.accuracy") + 2] == [
        "Experiment", "rev", "typ", "Created", "parent", "test.accuracy", "test.loss",
    ]  # fmt: skip


def test_plots_show_renders_every_plot_without_an_error(project, tmp_path):
    result = dvc(project, "plots", "show", "--json")
    shown = json.loads(result.stdout)
    assert not shown.get("errors"), shown["errors"]
    assert all(shown["data"].values())  # every plot has data
    page = dvc(project, "plots", "show", "-o", str(tmp_path / "rendered"))
    assert page.returncode == 0, page.stderr
    text = (tmp_path / "rendered/index.html").read_text()
    for title in ("Confusion matrix", "F1 per digit"):
        assert title in text
    # Only data kept in git: the report's PNGs live in the cache, which an old commit may lack.
    assert ".png" not in text


def test_a_report_param_reruns_only_the_report(clean):
    params = yaml.safe_load((clean / "params.yaml").read_text())
    params["report"]["sample_images"] = 4
    write_params(clean / "params.yaml", params)
    assert stages_run(dvc(clean, "repro")) == ["check_params", "report"]


DVC_STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def code_of(stage: str) -> set[str]:
    return {dep for dep in DVC_STAGES[stage]["deps"] if dep.endswith(".py")}


def own_code(stage: str) -> set[str]:
    """The code files dvc.yaml lists for ``stage`` and for no other stage but check_params.

    check_params lists every params schema, since it checks every section.
    """
    others = [code_of(other) for other in STAGES if other not in (stage, "check_params")]
    return code_of(stage).difference(*others)


@pytest.mark.parametrize("stage", STAGES)
def test_a_change_to_code_only_one_stage_reads_changes_only_that_stage(clean, stage):
    own_files = own_code(stage)
    assert own_files, f"{stage} has no code of its own"
    for name in own_files:
        with (clean / name).open("a") as file:
            file.write("# an edit\n")
    checked_too = own_files & code_of("check_params")  # a schema: check_params reads it too
    result = dvc(clean, "status", "--json")
    assert set(json.loads(result.stdout)) == {stage, *(["check_params"] if checked_too else [])}


def test_returning_to_params_run_before_restores_every_stage_from_the_run_cache(clean):
    committed = snapshot(clean)
    two = dvc(clean, "exp", "run", "-S", "train.epochs=2")
    assert two.returncode == 0, two.stdout + two.stderr
    upstream_of_train = ("download", "preprocess")  # every other stage reads a train param
    retrained = [stage for stage in STAGES if stage not in upstream_of_train]
    assert stages_run(two) == retrained

    back = dvc(clean, "exp", "run", "-S", "train.epochs=1")
    assert back.returncode == 0, back.stdout + back.stderr
    assert stages_run(back) == []
    assert stages_restored(back) == retrained
    assert snapshot(clean) == committed


def test_exp_run_s_model_takes_every_key_of_a_preset_of_conf(clean):
    """With DVC's Hydra composition on, as in the project, a preset brings its own keys."""
    shutil.copytree(REPO / "conf", clean / "conf")
    assert dvc(clean, "config", "hydra.enabled", "true").returncode == 0
    try:
        overrides = ["model=fast", "train.epochs=1"]
        result = dvc(clean, "exp", "run", *[f"-S{override}" for override in overrides])
        assert result.returncode == 0, result.stdout + result.stderr
        assert "train" in stages_run(result)
        params = (clean / "params.yaml").read_text()
        assert params == compose(clean, overrides)
        assert yaml.safe_load(params)["train"]["schedule"] == "warmup_cosine"  # fast's own
    finally:
        shutil.rmtree(clean / "conf")


def test_after_an_experiment_checkout_brings_the_committed_model_back_without_training(clean):
    committed = snapshot(clean)
    result = dvc(clean, "exp", "run", "-S", "seed=7")
    assert result.returncode == 0, result.stderr
    assert snapshot(clean) != committed
    git(clean, "checkout", "-q", "--", ".")
    restored = dvc(clean, "checkout")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert snapshot(clean) == committed
    assert dvc(clean, "status").stdout.strip() == "Data and pipelines are up to date."


def test_a_forced_rerun_gives_the_same_bytes_for_every_output(clean):
    result = dvc(clean, "repro", "-f")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stages_run(result) == list(STAGES)
    assert git_status(clean) == ""  # dvc.lock's hashes, the metrics and the plots unchanged


def test_a_refused_experiment_removes_no_output(clean):
    """check_params refuses the value before DVC starts (and so empties) the train stage."""
    before = snapshot(clean)
    result = dvc(clean, "exp", "run", "-S", "train.epochs=-5")
    assert result.returncode != 0
    assert "error: params.yaml: train.epochs: -5 is not allowed" in result.stdout + result.stderr
    assert stages_run(result) == ["check_params"]
    assert snapshot(clean) == before  # the model, its curves and metrics never left
    git(clean, "checkout", "-q", "--", "params.yaml")  # `-S` wrote -5 there, as DVC does
    # DVC emptied check_params' own output, a constant line: the run-cache puts it back.
    again = dvc(clean, "repro")
    assert stages_run(again) == [] and stages_restored(again) == ["check_params"]
    assert dvc(clean, "status").stdout.strip() == "Data and pipelines are up to date."


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (b"train: {epochs: 2\n", "params.yaml"),  # a YAML syntax error
        ("train:\n  optimizer: adam\u00e9\n".encode("latin-1"), "params.yaml"),  # not UTF-8
        (None, "params.yaml"),  # a folder where the file should be
    ],
    ids=["syntax-error", "latin-1", "a-folder"],
)
def test_a_broken_params_file_removes_no_output(clean, broken, expected):
    before = snapshot(clean)
    params = clean / "params.yaml"
    params.unlink()
    if broken is None:
        params.mkdir()
    else:
        params.write_bytes(broken)
    try:
        result = dvc(clean, "repro")
        assert result.returncode != 0
        assert expected in result.stdout + result.stderr
        assert "Running stage 'train'" not in result.stdout
        assert snapshot(clean) == before
    finally:
        if params.is_dir():
            params.rmdir()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_a_stopped_repro_records_nothing_and_dvc_checkout_brings_the_outputs_back(clean, stop):
    """DVC empties the train stage's outputs before it starts it; the lock and cache keep them."""
    before = snapshot(clean)
    params = yaml.safe_load((clean / "params.yaml").read_text())
    params["train"]["epochs"] = 300
    write_params(clean / "params.yaml", params)
    process = subprocess.Popen(
        [str(BIN / "dvc"), "repro"],
        cwd=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=environment(),
    )
    for line in process.stdout:
        if "Epoch 2/" in line:
            break
    os.killpg(process.pid, stop)  # the whole group, as a terminal's Ctrl-C reaches it
    rest = process.communicate(timeout=120)[0]
    assert process.returncode != 0
    # Only check_params, which finished, recorded the new params; train recorded nothing.
    assert locked_stages(clean, but="check_params") == locked_stages(before, but="check_params")
    assert not (clean / "models/model.keras").exists()  # DVC removed it before training
    if stop == signal.SIGINT:
        assert f"error: interrupted; no output was written; {RESTORE_HINT}" in rest

    restored = subprocess.run(  # the command the line names, as a shell runs it
        RESTORE_COMMAND, shell=True, cwd=clean, env=environment(), capture_output=True, text=True
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "Running stage" not in restored.stdout
    assert snapshot(clean) == before


def locked_stages(source: Path | dict, but: str) -> dict:
    """dvc.lock's stages, from a project or a snapshot, without the stage ``but``."""
    text = source["dvc.lock"] if isinstance(source, dict) else (source / "dvc.lock").read_bytes()
    stages = yaml.safe_load(text)["stages"]
    return {name: entry for name, entry in stages.items() if name != but}


def queue_finished(project: Path) -> bool:
    status = dvc(project, "queue", "status").stdout
    return "Queued" not in status and "Running" not in status


def test_two_queued_experiments_run_side_by_side_with_their_own_metrics(project):
    for seed in (1, 2):
        queued = dvc(project, "exp", "run", "--queue", "-n", f"seed-{seed}", "-S", f"seed={seed}")
        assert queued.returncode == 0, queued.stderr
    try:
        assert dvc(project, "queue", "start", "-j", "2").returncode == 0
        deadline = time.monotonic() + 600
        while not queue_finished(project):  # the queue's own record, polled
            assert time.monotonic() < deadline, dvc(project, "queue", "status").stdout
            time.sleep(0.5)
    finally:
        dvc(project, "queue", "stop", "--kill")
    rows = list(csv.DictReader(io.StringIO(dvc(project, "exp", "show", "--csv").stdout)))
    runs = {row["Experiment"]: row for row in rows if row["Experiment"].startswith("seed-")}
    assert set(runs) == {"seed-1", "seed-2"}
    accuracies = [float(runs[name]["test.accuracy"]) for name in ("seed-1", "seed-2")]
    assert all(accuracy > 0.5 for accuracy in accuracies)
    losses = [runs[name]["test.loss"] for name in ("seed-1", "seed-2")]
    assert accuracies[0] != accuracies[1] or losses[0] != losses[1]
    assert "Success" in dvc(project, "queue", "status").stdout
