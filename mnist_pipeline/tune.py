"""A hyperparameter search whose every trial is a DVC experiment.

    python -m mnist_pipeline.tune [--space tune.yaml] [--trials N] [--minutes M] [--study NAME]

The search space is declared in ``tune.yaml``: the objective (a validation
metric; a ``test.*`` one is refused, since choosing params by their test score
would leave no unseen score to report), the keys of params.yaml to vary and
their ranges, ``fixed`` values every trial runs with (a cheaper proxy of the
full run, such as fewer epochs), and the last ``stage`` a trial runs. Optuna's
TPE sampler proposes the values; each trial is then
``dvc exp run --temp -n <study>-<number> -S key=value ... [stage]``, so it is
listed by ``dvc exp show``, applied by ``dvc exp apply``, shared by
``dvc exp push``, and a configuration run before (by any search, or by hand)
is restored from DVC's run-cache in seconds instead of being trained again.

Why Optuna's TPE: the space mixes log-scaled floats, plain floats and
categories, which TPE models natively; it needs no model fitting worth the
name (a Gaussian process would cost more and handles categories poorly; CMA-ES
none at all); it does well on the few dozen sequential trials a CPU budget
allows; and Optuna's ask-and-tell interface lets a trial be any process, here
a `dvc exp run`. Optuna is well kept, and its journal file stores a study
without a database server.

The study lives in a journal, ``.dvc/tmp/tune/<study>.log`` (git ignores
DVC's tmp folder), written as each trial ends. Running the same command again
resumes: finished trials are kept, a trial cut short (Ctrl-C, or a tuner
killed outright) is marked FAIL and its params queued to run first. The
study remembers its tune.yaml, the commit it started from and the
uncommitted changes (``--temp`` runs carry them into every trial), and
refuses to resume on others, whose scores would not be comparable.

No pruning, from a one-off measurement (its replay script is not kept in the
repository): on the real MNIST with tune.yaml's former proxy (3 epochs on 10000
images, 2 CPU cores) a whole-pipeline trial took 39 s, of which 8 s
were epochs and 20 s the evaluate, report and export stages. (That proxy is
gone: its best trial lost to the defaults on full runs, bench/README.md.) Optuna's
MedianPruner (5 startup trials) replayed on ten such trials' validation
curves, in 300 orders, would have stopped trials after their first epoch and
saved 25% of the time, but pruned the eventual best trial in 47% of the
orders: the first epoch ranks trials poorly (Spearman 0.58 with the final
score). A pruned trial is also a failed run, which DVC does not record: not in
`dvc exp show`, never restored from the run-cache; and reading a running
trial's curve means reaching into the folder DVC makes for a --temp run.
Stopping every trial after the stage that writes the metric (``stage:
evaluate``) saves about as much (27 s a trial instead of 39 s) with no risk,
and each trial stays an experiment: tune.yaml does that.
"""

import argparse
import contextlib
import difflib
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import optuna
import yaml
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from mnist_pipeline.errors import ParamsError, PipelineError, run_command
from mnist_pipeline.params import Section, Seed, load_params
from mnist_pipeline.params.check_params import CheckParamsStageParams

PARAMS = Path("params.yaml")
JOURNALS = Path(".dvc/tmp/tune")
# Bool before int: pydantic tries a union's members left to right in strict mode.
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr | None
# A study names its experiments, which are git refs: no spaces, slashes or dots.
STUDY_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
StudyName = Annotated[StrictStr, StringConstraints(pattern=f"^{STUDY_PATTERN}$")]
FAILURES_IN_A_ROW = 3  # then the pipeline itself is broken, not the params


class Dimension(BaseModel):
    """One key's values: a range (``low``, ``high``, ``log``) or a list of ``choices``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: StrictInt | StrictFloat | None = None
    high: StrictInt | StrictFloat | None = None
    log: StrictBool = False
    choices: Annotated[tuple[Scalar, ...], Field(min_length=1)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: object) -> object:
        # Said here, with what is allowed: pydantic's own message could not list it.
        unknown = sorted(set(data) - set(cls.model_fields)) if isinstance(data, dict) else []
        if unknown:
            raise _invalid(
                f"unknown key {unknown[0]!r}: a range has low, high and log, a list has choices"
            )
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> "Dimension":
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.log:
                raise _invalid("give either choices or low and high, not both")
            return self
        if self.low is None or self.high is None:
            raise _invalid("expected low and high (a range) or choices (a list)")
        if not self.low < self.high:
            raise _invalid(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise _invalid(f"a log range must start above 0, not at {self.low}")
        return self

    @property
    def integers(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def candidates(self) -> tuple:
        """The values that bound what this dimension can propose (a range is an interval)."""
        return self.choices if self.choices is not None else (self.low, self.high)


class TuneFile(Section):
    """tune.yaml: what to optimise, over which params, within which budget."""

    study: StudyName
    seed: Seed  # of the sampler: the same history gives the same proposals
    stage: StrictStr | None  # the last stage a trial runs (with those before it); null: all
    metrics_file: StrictStr
    metric: StrictStr
    direction: Literal["maximize", "minimize"]
    trials: Annotated[StrictInt, Field(ge=1)]
    minutes: Annotated[StrictInt | StrictFloat, Field(gt=0)]
    fixed: dict[StrictStr, Scalar]
    space: Annotated[dict[StrictStr, Dimension], Field(min_length=1)]

    @field_validator("metric")
    @classmethod
    def _not_the_test_split(cls, metric: str) -> str:
        if metric.split(".")[0] == "test":
            raise _invalid(
                "params chosen by their test score leave no unseen score to report; "
                "tune on a validation metric such as val.accuracy"
            )
        return metric


def _invalid(message: str) -> PydanticCustomError:
    # A custom error keeps pydantic's "Value error, " prefix out of the one-line message.
    return PydanticCustomError("tune_file", message.replace("{", "{{").replace("}", "}}"))


# ---------------------------------------------------------------- the search space


def load_tune_file(path: Path, params_path: Path = PARAMS) -> TuneFile:
    """tune.yaml, checked against its schema, params.yaml and the pipeline's own schemas."""
    tune = load_params(path, TuneFile)
    load_params(params_path, CheckParamsStageParams)  # a broken params.yaml named as such
    params = _read_params(params_path)
    for section in ("fixed", "space"):
        for key in getattr(tune, section):
            _check_is_a_param(path, f"{section}.{key}", key, params)
    both = sorted(set(tune.fixed) & set(tune.space))
    if both:
        raise ParamsError(f"{path}: {both[0]} is both fixed and searched: keep it in one")
    for key, dimension in tune.space.items():
        if dimension.choices is None and _is_integer(params, key) and not dimension.integers:
            raise ParamsError(f"{path}: space.{key}: an integer param: low and high must be too")
    _check_values_pass_the_pipeline(path, tune, params_path)
    _check_stage_writes_the_metric(path, tune)
    _check_metric_exists(path, tune)
    return tune


def _read_params(path: Path) -> dict:
    """params.yaml as a tree (already checked: readable, and valid for every stage)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _flat_keys(tree: dict, prefix: str = "") -> dict[str, object]:
    """params.yaml's leaves by dotted key: ``{"train.epochs": 12, ...}``."""
    leaves = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            leaves.update(_flat_keys(value, f"{prefix}{key}."))
        else:
            leaves[f"{prefix}{key}"] = value
    return leaves


def _check_is_a_param(path: Path, where: str, key: str, params: dict) -> None:
    leaves = _flat_keys(params)
    if key not in leaves:
        inside = [leaf for leaf in leaves if leaf.startswith(f"{key}.")]
        if inside:
            raise ParamsError(f"{path}: {where}: a section; name one of its keys: {inside[0]}, ...")
        guess = difflib.get_close_matches(key, leaves, n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        raise ParamsError(f"{path}: {where}: {key!r} is not a key of {PARAMS}{hint}")


def _is_integer(params: dict, key: str) -> bool:
    value = _flat_keys(params)[key]
    return isinstance(value, int) and not isinstance(value, bool)


def _check_values_pass_the_pipeline(path: Path, tune: TuneFile, params_path: Path) -> None:
    """Every bound and choice, with the fixed values, must pass check_params: a value the
    pipeline refuses would make every trial that draws it fail, minutes into the search."""
    fixed = [override(key, value) for key, value in tune.fixed.items()]
    _validate(path, "fixed", params_path, fixed)
    for key, dimension in tune.space.items():
        for value in dimension.candidates():
            _validate(path, f"space.{key}", params_path, [*fixed, override(key, value)])


def _validate(path: Path, where: str, params_path: Path, overrides: list[str]) -> None:
    try:
        load_params(params_path, CheckParamsStageParams, overrides)
    except ParamsError as error:
        raise ParamsError(f"{path}: {where}: {error}") from None


def _check_stage_writes_the_metric(path: Path, tune: TuneFile) -> None:
    """The metrics file must come from the stages a trial runs: otherwise every trial
    would read the copy its commit holds, the same stale score for any params."""
    import networkx
    from dvc.repo import Repo

    with Repo(".", uninitialized=True) as repo:
        stages = {stage.addressing: stage for stage in repo.index.stages}
        if tune.stage is not None and tune.stage not in stages:
            raise ParamsError(
                f"{path}: stage: {tune.stage!r} is not a stage of dvc.yaml "
                f"(it has: {', '.join(stages)})"
            )
        ran = (
            networkx.dfs_preorder_nodes(repo.index.graph, stages[tune.stage])
            if tune.stage
            else stages.values()
        )
        written = {out.def_path for stage in ran for out in stage.outs if out.metric}
    if tune.metrics_file not in written:
        stages_run = f"stage {tune.stage!r} or those before it" if tune.stage else "the pipeline"
        raise ParamsError(
            f"{path}: metrics_file: {tune.metrics_file} is not a metrics output of {stages_run}"
            f" (they write: {', '.join(sorted(written)) or 'none'})"
        )


def _check_metric_exists(path: Path, tune: TuneFile) -> None:
    """A misspelled metric would fail every trial: check it against the committed file."""
    metrics_file = Path(tune.metrics_file)
    if not metrics_file.is_file():
        return  # not built yet: the first trial will tell
    metrics = _flat_keys(json.loads(metrics_file.read_text(encoding="utf-8")))
    if tune.metric not in metrics:
        raise ParamsError(
            f"{path}: metric: {tune.metric!r} is not in {metrics_file} "
            f"(it has: {', '.join(metrics)})"
        )


def override(key: str, value: object) -> str:
    """``key=value`` as ``dvc exp run -S`` reads it (a YAML scalar)."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, float):
        text = repr(value)  # the shortest text that reads back as the same float
    else:
        text = str(value)
    return f"{key}={text}"


def suggest(trial: optuna.Trial, key: str, dimension: Dimension) -> object:
    if dimension.choices is not None:
        return trial.suggest_categorical(key, list(dimension.choices))
    if dimension.integers:
        return trial.suggest_int(key, dimension.low, dimension.high, log=dimension.log)
    return trial.suggest_float(key, dimension.low, dimension.high, log=dimension.log)


def trial_overrides(trial: optuna.Trial, tune: TuneFile) -> list[str]:
    """The ``-S`` values of one trial: the fixed ones, then those the sampler proposes."""
    fixed = [override(key, value) for key, value in tune.fixed.items()]
    searched = [override(key, suggest(trial, key, dim)) for key, dim in tune.space.items()]
    return fixed + searched


# ---------------------------------------------------------------- the study


def journal_path(study: str) -> Path:
    return JOURNALS / f"{study}.log"


def open_study(tune: TuneFile) -> optuna.Study:
    """The study from its journal (created if new), checked to be the same search."""
    storage = JournalStorage(JournalFileBackend(str(journal_path(tune.study))))
    study = optuna.create_study(
        study_name=tune.study,
        storage=storage,
        sampler=optuna.samplers.TPESampler(seed=tune.seed),
        direction=tune.direction,
        load_if_exists=True,
    )
    _check_same_search(study, tune)
    # Seeded alike on every resume, the sampler would propose the first run's values
    # again (its first trials are random draws): the run-cache would restore them, but
    # they would use up the budget. The seed moves on with the journal instead, so a
    # resumed search is as reproducible as an uninterrupted one, without repeats.
    study.sampler = optuna.samplers.TPESampler(seed=tune.seed + len(study.trials))
    return study


def _search_identity(tune: TuneFile) -> dict:
    """What makes two trials' scores comparable: the objective, the fixed values and the space."""
    keys = ("stage", "metrics_file", "metric", "direction", "fixed", "space")
    return json.loads(tune.model_dump_json(include=set(keys)))


def workspace_state() -> dict[str, str]:
    """HEAD and a digest of the uncommitted changes to tracked files.

    `dvc exp run --temp` runs HEAD with those changes (untracked files stay
    behind), so both decide which code and params.yaml a trial runs with.
    """
    diff = subprocess.run(
        ["git", "diff", "HEAD", "--binary"], capture_output=True, check=True
    ).stdout
    return {
        "commit": git("rev-parse", "HEAD"),
        "changes": hashlib.sha256(diff).hexdigest() if diff else "",
    }


def _check_same_search(study: optuna.Study, tune: TuneFile) -> None:
    identity, workspace = _search_identity(tune), workspace_state()
    if "search" not in study.user_attrs:
        study.set_user_attr("search", identity)
        study.set_user_attr("workspace", workspace)
        return
    where = journal_path(tune.study)
    if study.user_attrs["search"] != identity:
        raise PipelineError(
            f"study {tune.study!r} ({where}) was started with another objective, fixed values "
            "or space: restore them, or start a new study with --study NAME"
        )
    if study.user_attrs["workspace"] != workspace:
        raise PipelineError(
            f"study {tune.study!r} ({where}) {workspace_changed(study.user_attrs['workspace'])}: "
            "its trials ran other code or params; go back to them to resume it, "
            "or start a new study with --study NAME"
        )


def workspace_changed(started: dict[str, str]) -> str:
    """What differs from the workspace a study started in, or "" if nothing does."""
    now = workspace_state()
    if now["commit"] != started["commit"]:
        return f"was started on commit {started['commit'][:7]}, HEAD is {now['commit'][:7]}"
    if now["changes"] != started["changes"]:
        return "was started with other uncommitted changes (git diff HEAD)"
    return ""


def retried(study: optuna.Study) -> set[int]:
    """Numbers of trials cut short and queued to run again."""
    return {t.user_attrs["retry_of"] for t in study.trials if "retry_of" in t.user_attrs}


def finished(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that count towards the budget: complete, or failed for a reason of their own."""
    again = retried(study)
    return [
        trial
        for trial in study.trials
        if trial.state == TrialState.COMPLETE
        or (trial.state == TrialState.FAIL and trial.number not in again)
    ]


def requeue(study: optuna.Study, trial_number: int, params: dict) -> None:
    """Mark a trial cut short as failed and queue its params: the sampler's next trial."""
    study.tell(trial_number, state=TrialState.FAIL, skip_if_finished=True)
    study.enqueue_trial(params, user_attrs={"retry_of": trial_number})


def recover_interrupted(study: optuna.Study) -> None:
    """A tuner killed outright leaves its trial RUNNING: nothing will ever finish it."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        print(f"trial {trial.number} was cut short by an earlier run: queued again")
        requeue(study, trial.number, trial.params)


@contextlib.contextmanager
def exclusive(study: str) -> Iterator[None]:
    """One tuner per study: a second would mark the first one's running trial as failed."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks in the standard library
        yield
        return
    with (JOURNALS / f"{study}.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PipelineError(f"another tuner is running study {study!r}") from None
        yield


# ---------------------------------------------------------------- DVC


def experiment_name(study: str, trial_number: int) -> str:
    return f"{study}-{trial_number}"


def dvc_executable() -> str:
    """The dvc beside this Python (the project's venv), so stages run with its packages."""
    beside = Path(sys.executable).parent / "dvc"
    return str(beside) if beside.exists() else "dvc"


def environment() -> dict[str, str]:
    # The stages' `python` must be this venv's; unbuffered, so their lines stream as they come.
    bin_dir = str(Path(sys.executable).parent)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def git(*args: str) -> str:
    result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PipelineError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def dvc_json(*args: str) -> object:
    result = subprocess.run(
        [dvc_executable(), *args, "--json"],
        capture_output=True,
        text=True,
        env=environment(),
        check=False,
    )
    if result.returncode != 0:
        raise PipelineError(f"dvc {' '.join(args)}: {result.stderr.strip() or result.stdout}")
    return json.loads(result.stdout)


def existing_experiments() -> set[str]:
    """Names of the experiments on HEAD (DVC refuses a second run under the same name)."""
    result = subprocess.run(
        [dvc_executable(), "exp", "list", "--name-only"],
        capture_output=True,
        text=True,
        env=environment(),
        check=False,
    )
    return set(result.stdout.split()) if result.returncode == 0 else set()


def check_names_free(study: optuna.Study) -> None:
    """Trial numbers to come must not name experiments left by a search whose journal is gone."""
    taken = sorted(
        name
        for name in existing_experiments()
        if name.startswith(f"{study.study_name}-")
        and name.removeprefix(f"{study.study_name}-").isdigit()
        and int(name.removeprefix(f"{study.study_name}-")) >= len(study.trials)
    )
    if taken:
        raise PipelineError(
            f"experiments {', '.join(taken)} exist on this commit but not in "
            f"{journal_path(study.study_name)}: `dvc exp remove {' '.join(taken)}`, "
            "or start a new study with --study NAME"
        )


def experiment_metrics(name: str, metrics_file: str) -> dict | None:
    """An experiment's metrics file as `dvc exp show --json` reports it (DVC 3 layout)."""
    for baseline in dvc_json("exp", "show"):
        for experiment in baseline.get("experiments") or []:
            if experiment.get("name") != name:
                continue
            data = experiment["revs"][0].get("data") or {}
            return (data.get("metrics") or {}).get(metrics_file, {}).get("data")
    return None


def metric_value(metrics: dict | None, metric: str) -> float | None:
    value = metrics
    for part in metric.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


@dataclass
class Stop:
    """SIGINT or SIGTERM: start no new trial, and pass the signal to the running one.

    The `dvc exp run` runs in a session of its own, so that a terminal's Ctrl-C
    reaches it once, from here, and a signal sent to the tuner alone still
    reaches it. It goes to the whole process group: DVC ignores SIGINT while a
    stage's command runs, and the stage itself must hear it.
    """

    signal: int | None = None
    child: subprocess.Popen | None = None

    def __call__(self, signal_number: int, _frame) -> None:
        self.signal = signal_number
        if self.child is not None and self.child.poll() is None and os.name == "posix":
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.child.pid, signal_number)


@dataclass
class Run:
    returncode: int
    seconds: float
    restored: bool  # the train stage came from DVC's run-cache
    log: Path


def run_experiment(name: str, arguments: list[str], log: Path, stop: Stop) -> Run:
    """``dvc exp run --temp`` with ``arguments``, its output shown indented and kept in ``log``."""
    command = [dvc_executable(), "exp", "run", "--temp", "-n", name, *arguments]
    print(f"$ {shlex.join(['dvc', *command[1:]])}", flush=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    restored = False
    with log.open("w", encoding="utf-8") as kept:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment(),
            start_new_session=os.name == "posix",
        )
        stop.child = process
        try:
            for line in process.stdout:
                kept.write(line)
                print(f"    {line}", end="", flush=True)
                restored = restored or "Stage 'train' is cached - skipping run" in line
            process.wait()
        finally:
            stop.child = None
    return Run(process.returncode, time.monotonic() - started, restored, log)


# ---------------------------------------------------------------- the loop


@dataclass(frozen=True)
class Budget:
    trials: int
    deadline: float  # time.monotonic()


@dataclass(frozen=True)
class Ending:
    reason: str
    status: int = 0  # the tuner's exit status


def search(study: optuna.Study, tune: TuneFile, budget: Budget, stop: Stop) -> Ending:
    """Run trials until the budget is spent, or until running more would be pointless."""
    failures_in_a_row = 0
    while True:
        done = len(finished(study))
        if done >= budget.trials:
            return Ending(f"{done} trials finished")
        if stop.signal is not None:
            return Ending(
                f"interrupted: finished trials are kept in {journal_path(study.study_name)}; "
                "the same command resumes the search",
                128 + stop.signal,
            )
        if time.monotonic() >= budget.deadline:
            return Ending(f"time budget spent, {done} of {budget.trials} trials finished")
        changed = workspace_changed(study.user_attrs["workspace"])
        if changed:  # an edit during the search: the next trials would run it
            return Ending(
                f"stopped: the study {changed}; its trials are kept: restore the workspace "
                "and run the same command to go on",
                1,
            )
        state = run_trial(study, tune, stop)
        failures_in_a_row = failures_in_a_row + 1 if state == TrialState.FAIL else 0
        if failures_in_a_row >= FAILURES_IN_A_ROW and stop.signal is None:
            last = trial_log(study.study_name, study.trials[-1].number)
            return Ending(f"stopped: {failures_in_a_row} trials in a row failed; see {last}", 1)


def trial_log(study: str, number: int) -> Path:
    return JOURNALS / study / f"{number}.log"


def run_trial(study: optuna.Study, tune: TuneFile, stop: Stop) -> TrialState:
    trial = study.ask()
    overrides = trial_overrides(trial, tune)
    name = experiment_name(study.study_name, trial.number)
    trial.set_user_attr("experiment", name)
    trial.set_user_attr("overrides", overrides)
    print(f"\ntrial {trial.number} ({name})", flush=True)
    arguments = [*_set_options(overrides), *([tune.stage] if tune.stage else [])]
    run = run_experiment(name, arguments, trial_log(study.study_name, trial.number), stop)
    trial.set_user_attr("seconds", round(run.seconds, 1))
    trial.set_user_attr("restored", run.restored)
    if run.returncode != 0 and stop.signal is not None:
        requeue(study, trial.number, trial.params)
        print(f"trial {trial.number} interrupted: queued to run again", flush=True)
        return TrialState.FAIL
    value = metric_value(experiment_metrics(name, tune.metrics_file), tune.metric)
    if run.returncode != 0 or value is None:
        study.tell(trial.number, state=TrialState.FAIL)
        why = f"exit status {run.returncode}" if run.returncode else f"no {tune.metric}"
        print(f"trial {trial.number} FAIL ({why}); its output: {run.log}", flush=True)
        return TrialState.FAIL
    study.tell(trial.number, value)
    how = "restored from the run-cache" if run.restored else "trained"
    print(
        f"trial {trial.number} COMPLETE {tune.metric}={value:.6g} in {run.seconds:.0f} s ({how})",
        flush=True,
    )
    return TrialState.COMPLETE


# ---------------------------------------------------------------- the report


def trials_table(study: optuna.Study, metric: str) -> str:
    keys = sorted({key for trial in study.trials for key in trial.params})
    header = ["trial", "state", metric, "seconds", "run", *keys]
    rows = [header]
    for trial in study.trials:
        value = "" if trial.value is None else f"{trial.value:.6g}"
        seconds = trial.user_attrs.get("seconds", "")
        run = "cached" if trial.user_attrs.get("restored") else ""
        if trial.number in retried(study):
            run = "re-queued"
        elif trial.state == TrialState.WAITING and "retry_of" in trial.user_attrs:
            run = f"retries {trial.user_attrs['retry_of']}"
        params = [_shown(trial.params[key]) if key in trial.params else "" for key in keys]
        rows.append([str(trial.number), trial.state.name, value, str(seconds), run, *params])
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _shown(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def best_trial_lines(study: optuna.Study, tune: TuneFile) -> list[str]:
    best = study.best_trial
    name = best.user_attrs["experiment"]
    target = [tune.stage] if tune.stage else []
    reproduce = shlex.join(
        ["dvc", "exp", "run", *_set_options(best.user_attrs["overrides"]), *target]
    )
    searched = [override(key, best.params[key]) for key in tune.space]
    full = shlex.join(["dvc", "exp", "run", *_set_options(searched)])
    lines = [
        f"best: trial {best.number}, {tune.metric} {best.value:.6g}, experiment {name}",
        f"  dvc exp apply {name}    # its params, model and metrics into the workspace",
        f"  {reproduce}    # reproduces it (from the run-cache where it ran)",
    ]
    if tune.fixed or tune.stage:  # the proxy's values and target left out: the full run
        lines.append(f"  {full}    # its searched values, the rest as in params.yaml")
    return lines


def _set_options(overrides: list[str]) -> list[str]:
    return [word for value in overrides for word in ("-S", value)]


# ---------------------------------------------------------------- the command


def positive(kind: type) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
        return value

    return parse


def study_name(text: str) -> str:
    if not re.fullmatch(STUDY_PATTERN, text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: letters, digits, - and _ only (it names git refs), up to 64"
        )
    return text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_pipeline.tune",
        description="Search params.yaml's values with Optuna's TPE, one DVC experiment a trial.",
    )
    parser.add_argument("--space", type=Path, default=Path("tune.yaml"), help="the search space")
    parser.add_argument(
        "--trials",
        type=positive(int),
        help="finished trials the study ends with, earlier runs' included (tune.yaml's trials)",
    )
    parser.add_argument(
        "--minutes",
        type=positive(float),
        help="start no trial after this long (tune.yaml's minutes)",
    )
    parser.add_argument("--study", type=study_name, help="the study's name (tune.yaml's study)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    stop = Stop()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    args = parse_args(argv)
    if not Path(".dvc").is_dir():
        raise PipelineError("run it from the project's root, where .dvc is")
    tune = load_tune_file(args.space)
    if args.study:
        tune = tune.model_copy(update={"study": args.study})
    budget = Budget(
        trials=args.trials or tune.trials,
        deadline=time.monotonic() + 60 * (args.minutes or tune.minutes),
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the tuner prints its own lines
    JOURNALS.mkdir(parents=True, exist_ok=True)
    with exclusive(tune.study):
        study = open_study(tune)
        recover_interrupted(study)
        check_names_free(study)
        print(
            f"study {tune.study!r} ({journal_path(tune.study)}): "
            f"{len(finished(study))} of {budget.trials} trials finished before",
            flush=True,
        )
        ending = search(study, tune, budget, stop)
    if ending.status == 0:
        print(f"\n{ending.reason}")
    print(f"\n{trials_table(study, tune.metric)}\n")
    if any(trial.state == TrialState.COMPLETE for trial in study.trials):
        print("\n".join(best_trial_lines(study, tune)), flush=True)
    if ending.status:
        print(f"\n{ending.reason}", file=sys.stderr)
    return ending.status


if __name__ == "__main__":
    run_command(main)
