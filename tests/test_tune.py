"""The tuner: its search-space file, and real searches whose trials are `dvc exp run --temp`.

The searches run on one copy of the project (tiny digits, one epoch), each
study with learning rates of its own, so that no test finds another's runs
in DVC's run-cache by chance.
"""

import json
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState
from ruamel.yaml import YAML

from mnist_pipeline.errors import ParamsError, PipelineError
from mnist_pipeline.tune import exclusive, load_tune_file, metric_value, override
from tests.conftest import REPO, tiny_params, write_params
from tests.dvc_project import dvc, environment, git, make_project

# DVC 3.67 reads its stage graph through pygtrie's deprecated step.value (load_tune_file
# asks DVC which stages write the metrics file): DVC's to fix, not the tuner's.
pytestmark = pytest.mark.filterwarnings("ignore:_NoneStep.value:DeprecationWarning")

TRAINED = "Running stage 'train'"
RESTORED = "Stage 'train' is cached - skipping run, checking out outputs"
TIMEOUT = 600  # seconds, for any one tuner run: a hung run fails the test instead of the suite


def space_file(folder: Path, study: str, space: dict, trials: int = 2, **settings) -> Path:
    return write_params(folder / "tune.yaml", space_contents(study, space, trials, **settings))


def space_contents(study: str, space: dict, trials: int = 2, **settings) -> dict:
    return {
        "study": study,
        "seed": 0,
        "stage": "evaluate",
        "metrics_file": "metrics/evaluate.json",
        "metric": "val.accuracy",
        "direction": "maximize",
        "trials": trials,
        "minutes": 30,
        "fixed": {},
        "space": space,
        **settings,
    }


# ---------------------------------------------------------------- the space file


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """The project's pipeline with the tests' params.yaml and a metrics file, not run."""
    for name in ("dvc.yaml", "paths.yaml"):
        shutil.copy2(REPO / name, tmp_path / name)
    write_params(tmp_path / "params.yaml", tiny_params())
    metrics = {"test": {"accuracy": 0.9, "loss": 0.3}, "val": {"accuracy": 0.9, "loss": 0.3}}
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/evaluate.json").write_text(json.dumps(metrics))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def refusal(workspace: Path, **settings) -> str:
    space = settings.pop("space", {"train.learning_rate": {"low": 0.001, "high": 0.01}})
    study = settings.pop("study", "s")
    write_params(workspace / "s.yaml", space_contents(study, space, **settings))
    with pytest.raises(ParamsError) as refused:
        load_tune_file(Path("s.yaml"), Path("params.yaml"))
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_the_projects_tune_yaml_is_valid(monkeypatch):
    monkeypatch.chdir(REPO)
    tune = load_tune_file(REPO / "tune.yaml", REPO / "params.yaml")
    assert tune.metric == "val.accuracy" and tune.direction == "maximize"


def test_a_valid_space_reads_ranges_and_choices(workspace):
    space = {
        "train.learning_rate": {"low": 0.0003, "high": 0.01, "log": True},
        "train.batch_size": {"choices": [32, 64]},
        "train.epochs": {"low": 1, "high": 3},
    }
    path = space_file(workspace, "s", space, fixed={"preprocess.train_subset": 500})
    tune = load_tune_file(path, Path("params.yaml"))
    assert tune.space["train.learning_rate"].log
    assert tune.space["train.epochs"].integers
    assert tune.space["train.batch_size"].choices == (32, 64)


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ({"train.learning_rate": {"low": 0.01, "high": 0.001}}, "low (0.01) must be below high"),
        ({"train.learning_rate": {"low": 0.0, "high": 0.1, "log": True}}, "above 0"),
        ({"train.learning_rate": {"low": 0.001}}, "expected low and high"),
        ({"train.learning_rate": {"lo": 0.1, "high": 1.0}}, "unknown key 'lo'"),
        ({"train.learning_rate": {"low": 0.001, "high": 20.0}}, "less than or equal to 10"),
        ({"model.dropout": {"low": 0.1, "high": 1.5}}, "space.model.dropout: params.yaml"),
        ({"train.optimizer": {"choices": ["adam", "rmsprop"]}}, "'rmsprop' is not allowed"),
        ({"train.epochs": {"low": 1.0, "high": 3.0}}, "an integer param"),
        ({"train.epochs": {"choices": []}}, "at least 1 item"),
    ],
    ids=[
        "low-above-high",
        "log-from-zero",
        "no-high",
        "unknown-field",
        "beyond-the-pipelines-limit",
        "dropout-of-1.5",
        "unknown-optimizer",
        "float-bounds-for-an-int",
        "no-choices",
    ],
)
def test_a_bad_range_is_refused_naming_the_key(workspace, space, expected):
    message = refusal(workspace, space=space)
    assert f"s.yaml: space.{next(iter(space))}" in message
    assert expected in message


def test_a_key_not_in_params_yaml_is_refused_with_a_guess(workspace):
    message = refusal(workspace, space={"train.learnig_rate": {"low": 0.001, "high": 0.01}})
    assert "'train.learnig_rate' is not a key of params.yaml" in message
    assert "did you mean 'train.learning_rate'?" in message
    assert "not a key of params.yaml" in refusal(workspace, fixed={"train.epoch": 3})
    assert "a section" in refusal(workspace, space={"train": {"low": 1, "high": 2}})


@pytest.mark.parametrize("metric", ["test.accuracy", "test.loss"])
def test_a_test_metric_is_refused(workspace, metric):
    """Choosing params by the test score would leave no unseen score to report."""
    message = refusal(workspace, metric=metric)
    assert f"metric: {metric!r} is not allowed" in message and "val.accuracy" in message


def test_a_metric_missing_from_the_metrics_file_is_refused(workspace):
    message = refusal(workspace, metric="val.acuracy")
    assert "'val.acuracy' is not in metrics/evaluate.json" in message


def test_the_stage_must_be_one_of_the_pipeline_and_write_the_metric(workspace):
    """Trials that stop before the metrics file is written would all read its stale copy."""
    unknown = refusal(workspace, stage="evalute")
    assert "stage: 'evalute' is not a stage of dvc.yaml (it has: check_params," in unknown
    before = refusal(workspace, stage="train")
    assert "metrics_file: metrics/evaluate.json is not a metrics output of stage 'train'" in before
    space = {"train.learning_rate": {"low": 0.001, "high": 0.01}}
    path = write_params(workspace / "all.yaml", space_contents("s", space, stage=None))
    assert load_tune_file(path, Path("params.yaml")).stage is None  # the whole pipeline


def test_fixed_values_must_pass_the_pipeline_and_not_be_searched(workspace):
    assert "fixed: params.yaml: train.epochs: 0 is not allowed" in refusal(
        workspace, fixed={"train.epochs": 0}
    )
    both = refusal(workspace, fixed={"train.learning_rate": 0.01})
    assert "train.learning_rate is both fixed and searched" in both


def test_unknown_settings_and_study_names_are_refused(workspace):
    assert "unknown key 'seeed' (did you mean 'seed'?)" in refusal(workspace, seeed=1)
    assert "study: 'a b' is not allowed" in refusal(workspace, study="a b")
    assert "direction: 'up' is not allowed" in refusal(workspace, direction="up")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.001, "k=0.001"), (1e-05, "k=1e-05"), (64, "k=64"), (True, "k=true"), (None, "k=null")],
)
def test_overrides_read_back_as_the_same_value(value, expected):
    """As DVC reads `-S` values and then params.yaml: YAML 1.2, where 1e-05 is a float."""
    assert override("k", value) == expected
    assert YAML(typ="safe").load(expected.split("=")[1]) == value


def test_metric_value_follows_dotted_keys():
    metrics = {"val": {"accuracy": 0.5}, "test": {"accuracy": 0.9}}
    assert metric_value(metrics, "val.accuracy") == 0.5
    assert metric_value(metrics, "val.loss") is None
    assert metric_value(None, "val.accuracy") is None


# ---------------------------------------------------------------- real searches


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_mnist_file, tiny_mnist) -> Path:
    return make_project(tmp_path_factory.mktemp("tune") / "repo", tiny_mnist_file, tiny_mnist)


def tune(project: Path, space: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_pipeline.tune", "--space", str(space), *args],
        cwd=project,  # the project copy's own mnist_pipeline, as `make tune` there would run
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )


def load_study(project: Path, name: str) -> optuna.Study:
    journal = project / ".dvc/tmp/tune" / f"{name}.log"
    return optuna.load_study(
        study_name=name, storage=JournalStorage(JournalFileBackend(str(journal)))
    )


def experiments(project: Path) -> dict[str, dict]:
    """Each experiment of `dvc exp show --json` by name: its params.yaml and evaluate metrics."""
    result = dvc(project, "exp", "show", "--json")
    assert result.returncode == 0, result.stderr
    shown = {}
    for baseline in json.loads(result.stdout):
        for experiment in baseline.get("experiments") or []:
            data = experiment["revs"][0]["data"]
            shown[experiment["name"]] = {
                "params": data["params"]["params.yaml"]["data"],
                "metrics": data["metrics"]["metrics/evaluate.json"]["data"],
            }
    return shown


def trial_log(project: Path, study: str, number: int) -> str:
    return (project / ".dvc/tmp/tune" / study / f"{number}.log").read_text()


@pytest.mark.slow
def test_every_trial_is_an_experiment_dvc_exp_show_lists(project, tmp_path):
    space = space_file(tmp_path, "ta", {"train.learning_rate": {"choices": [0.002, 0.004]}})
    result = tune(project, space)
    assert result.returncode == 0, result.stdout + result.stderr

    study = load_study(project, "ta")
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 2
    shown = experiments(project)
    for trial in study.trials:
        experiment = shown[f"ta-{trial.number}"]
        assert experiment["params"]["train"]["learning_rate"] == trial.params["train.learning_rate"]
        assert experiment["metrics"]["val"]["accuracy"] == pytest.approx(trial.value)
    best = study.best_trial
    assert f"best: trial {best.number}, val.accuracy" in result.stdout
    assert f"  dvc exp apply ta-{best.number}    #" in result.stdout
    rate = best.params["train.learning_rate"]
    assert f"  dvc exp run -S train.learning_rate={rate} evaluate    #" in result.stdout
    assert f"  dvc exp run -S train.learning_rate={rate}    #" in result.stdout  # all stages
    log = trial_log(project, "ta", 0)  # `stage: evaluate`: the stages after it are not run
    assert "Running stage 'evaluate'" in log and "Running stage 'report'" not in log
    assert (project / ".dvc/tmp/tune/ta.log").is_file()
    assert git(project, "status", "--porcelain") == ""  # --temp: the workspace is untouched


@pytest.mark.slow
def test_an_interrupted_search_resumes_without_running_a_finished_trial_again(project, tmp_path):
    space = space_file(
        tmp_path, "tb", {"train.learning_rate": {"low": 0.0005, "high": 0.005, "log": True}}, 3
    )
    command = [sys.executable, "-m", "mnist_pipeline.tune", "--space", str(space)]
    process = subprocess.Popen(
        command,
        cwd=project,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(TIMEOUT, process.kill)
    watchdog.start()
    try:
        first_finished = False
        for line in process.stdout:  # the tuner's own lines: no sleeps, no polling
            first_finished = first_finished or line.startswith("trial 0 COMPLETE")
            if first_finished and TRAINED in line:  # trial 1 is training
                break
        process.send_signal(signal.SIGINT)  # to the tuner alone: it passes it on
        rest = process.communicate(timeout=TIMEOUT)[0]
    finally:
        watchdog.cancel()
    assert process.returncode == 128 + signal.SIGINT, rest
    assert "interrupted: finished trials are kept in .dvc/tmp/tune/tb.log" in rest
    assert "trial 1 interrupted: queued to run again" in rest
    interrupted = load_study(project, "tb")
    states = [trial.state for trial in interrupted.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING]
    assert "tb-1" not in experiments(project)  # DVC records no experiment that failed

    resumed = tune(project, space)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "study 'tb' (.dvc/tmp/tune/tb.log): 1 of 3 trials finished before" in resumed.stdout
    assert "Reproducing experiment 'tb-0'" not in resumed.stdout  # not run again
    study = load_study(project, "tb")
    complete = [trial for trial in study.trials if trial.state == TrialState.COMPLETE]
    assert [trial.number for trial in complete] == [0, 2, 3]
    assert study.trials[0].value == interrupted.trials[0].value
    assert study.trials[2].params == interrupted.trials[1].params  # the cut trial, run first
    assert study.trials[2].user_attrs["retry_of"] == 1
    # The resumed sampler moves on: it does not draw the first run's values again.
    assert study.trials[3].params != study.trials[0].params
    assert {"tb-0", "tb-2", "tb-3"} <= set(experiments(project))
    assert list((project / ".dvc/tmp/exps").glob("tmp*")) == []  # DVC removed its temp folders


@pytest.mark.slow
def test_a_configuration_tried_before_is_restored_from_the_run_cache(project, tmp_path):
    space = space_file(tmp_path, "tc", {"train.learning_rate": {"choices": [0.0031]}})
    result = tune(project, space)
    assert result.returncode == 0, result.stdout + result.stderr

    first, second = trial_log(project, "tc", 0), trial_log(project, "tc", 1)
    assert TRAINED in first
    assert RESTORED in second and TRAINED not in second
    study = load_study(project, "tc")
    assert study.trials[0].params == study.trials[1].params
    assert study.trials[1].user_attrs["restored"] and not study.trials[0].user_attrs["restored"]
    assert study.trials[1].value == study.trials[0].value
    assert study.trials[1].user_attrs["seconds"] < study.trials[0].user_attrs["seconds"]
    shown = experiments(project)
    assert shown["tc-0"]["metrics"] == shown["tc-1"]["metrics"]
    assert "trial 1 COMPLETE" in result.stdout and "restored from the run-cache" in result.stdout


@pytest.mark.slow
def test_no_trial_starts_once_the_time_budget_is_spent(project, tmp_path):
    space = space_file(tmp_path, "td", {"train.learning_rate": {"choices": [0.0041]}})
    result = tune(project, space, "--minutes", "0.0001")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "time budget spent, 0 of 2 trials finished" in result.stdout
    assert "dvc exp run" not in result.stdout


@pytest.mark.slow
def test_a_study_is_resumed_only_with_the_same_space_and_workspace(project, tmp_path):
    """Trials run on other params or code would not be comparable with the study's."""
    space = space_file(tmp_path, "te", {"train.learning_rate": {"choices": [0.0051]}})
    assert tune(project, space, "--minutes", "0.0001").returncode == 0  # creates the study
    other_space = tmp_path / "other" / "tune.yaml"
    space_file(other_space.parent, "te", {"train.learning_rate": {"choices": [0.0052]}})
    result = tune(project, other_space)
    assert result.returncode == 1
    assert "error: study 'te' (.dvc/tmp/tune/te.log) was started with another" in result.stderr

    params = project / "params.yaml"
    committed = params.read_text()
    params.write_text(committed.replace("sample_images: 16", "sample_images: 4"))
    try:  # `dvc exp run --temp` would carry this uncommitted change into every trial
        edited = tune(project, space)
    finally:
        params.write_text(committed)
    assert edited.returncode == 1
    assert "was started with other uncommitted changes (git diff HEAD)" in edited.stderr
    assert tune(project, space, "--minutes", "0.0001").returncode == 0  # as it was: resumes


def test_one_tuner_at_a_time_per_study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".dvc/tmp/tune").mkdir(parents=True)
    with exclusive("s"):
        refused = pytest.raises(PipelineError, match="another tuner is running study 's'")
        with refused, exclusive("s"):
            pass
        with exclusive("other"):
            pass
