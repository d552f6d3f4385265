"""The ensemble: averaging, its params, its stage, and its pipeline in real dvc."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from mnist_pipeline.dataset import RawData, Split, save_splits
from mnist_pipeline.ensemble import ensemble_metrics, member_accuracies, member_file
from mnist_pipeline.errors import ParamsError
from mnist_pipeline.params import load_params
from mnist_pipeline.params.ensemble import EnsembleStageParams
from mnist_pipeline.preprocess import make_splits
from tests.conftest import run_stage, tiny_params, write_params
from tests.dvc_project import dvc, make_project


def one_hot(labels, confidence=0.9):
    probabilities = np.full((len(labels), 10), (1 - confidence) / 9, np.float32)
    probabilities[np.arange(len(labels)), labels] = confidence
    return probabilities


def test_the_ensemble_reads_the_mean_of_its_members_probabilities():
    labels = np.array([0, 1, 2, 3])
    split = Split(np.zeros((4, 28, 28), np.uint8), labels)
    right = one_hot(labels)
    wrong_once = one_hot(np.array([0, 1, 2, 5]), confidence=0.6)  # sure of less
    metrics = ensemble_metrics(split, [right, wrong_once])
    assert metrics["accuracy"] == 1.0  # 0.9 + 0.04 on 3 beats 0.011 + 0.6 on 5
    assert set(metrics) == {"accuracy", "loss"}  # the keys of every split in every metrics file
    assert member_accuracies(split, [right, wrong_once]) == [1.0, 0.75]


def ensemble_params(seeds, combine=("mean",)) -> dict:
    return {"ensemble": {"seeds": list(seeds), "combine": list(combine)}}


@pytest.mark.parametrize(
    ("seeds", "combine", "expected"),
    [
        ([], ["mean"], "ensemble.combine names a way to combine members, but ensemble.seeds is"),
        ([1, 1], ["mean"], "ensemble.seeds: [1, 1] is not allowed: value error, each value must"),
        ([-1], ["mean"], "ensemble.seeds.0: -1 is not allowed"),
        ([0], ["vote"], "ensemble.combine.0: 'vote' is not allowed: input should be 'mean'"),
    ],
)
def test_bad_ensemble_params_are_refused(tmp_path, seeds, combine, expected):
    params = write_params(
        tmp_path / "params.yaml", {**tiny_params(), **ensemble_params(seeds, combine)}
    )
    with pytest.raises(ParamsError) as error:
        load_params(params, EnsembleStageParams)
    assert expected in str(error.value)


def test_no_ensemble_is_the_default_and_is_valid(tmp_path):
    params = write_params(tmp_path / "params.yaml", {**tiny_params(), **ensemble_params([], [])})
    assert load_params(params, EnsembleStageParams).ensemble.seeds == ()


def evaluate_ensemble(root: Path, seeds: list[int], data: RawData, member=None):
    """The stage on ``data``'s splits, with ``member`` copied in as every seed's model."""
    processed, members = root / "processed", root / "members"
    processed.mkdir()
    save_splits(processed, make_splits(data, 0.1, 0))
    members.mkdir()
    for seed in seeds if member else ():
        shutil.copy(member, member_file(members, seed))
    params = write_params(root / "params.yaml", {**tiny_params(), **ensemble_params(seeds)})
    result = run_stage(
        "evaluate_ensemble", "--params", str(params), "--members", str(members),
        "--data", str(processed), "--metrics", str(root / "ensemble.json"),
    )  # fmt: skip
    return result, root / "ensemble.json"


@pytest.mark.slow
def test_evaluate_ensemble_scores_every_member_and_their_mean(tmp_path, model_file, tiny_mnist):
    result, metrics = evaluate_ensemble(tmp_path, [3, 5], tiny_mnist, member=model_file)
    assert result.returncode == 0, result.stderr
    scores = json.loads(metrics.read_text())
    assert set(scores) == {"test", "val"}
    for split in ("val", "test"):
        # Two copies of one model: the mean is that model, and both members score alike.
        accuracies = re.search(rf"^{split}: 2 members \((\S+), (\S+)\), together (\S+)$",
                               result.stdout, re.MULTILINE).groups()  # fmt: skip
        assert len(set(accuracies)) == 1
        assert scores[split]["accuracy"] == pytest.approx(float(accuracies[2]), abs=1e-4)
    assert scores["test"]["accuracy"] > 0.6


@pytest.mark.slow
def test_a_missing_member_is_named_and_nothing_is_written(tmp_path, tiny_mnist):
    result, metrics = evaluate_ensemble(tmp_path, [3], tiny_mnist)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {member_file(tmp_path / 'members', 3)}: ")
    assert len(result.stderr.splitlines()) == 1
    assert not metrics.exists()


@pytest.mark.slow
def test_the_ensemble_is_opt_in_and_each_member_is_its_own_stage(
    tmp_path, tiny_mnist_file, tiny_mnist
):
    project = make_project(tmp_path / "repo", tiny_mnist_file, tiny_mnist)  # runs dvc repro
    assert not (project / "models/ensemble").exists()  # the default repro trains no member
    assert dvc(project, "status").stdout.strip() == "Data and pipelines are up to date."

    # What `make ensemble` runs: an experiment with one member per seed.
    first = dvc(
        project, "exp", "run", "-S", "ensemble.seeds=[0, 1]", "-S", "ensemble.combine=[mean]"
    )
    assert first.returncode == 0, first.stdout + first.stderr
    ran = [line for line in first.stdout.splitlines() if line.startswith("Running stage")]
    assert ran == [
        "Running stage 'check_params':",  # the ensemble's params changed
        "Running stage 'train_member@0':",
        "Running stage 'train_member@1':",
        "Running stage 'evaluate_ensemble@mean':",
    ]
    scores = json.loads((project / "metrics/ensemble.json").read_text())
    assert set(scores) == {"test", "val"} and scores["test"]["accuracy"] > 0.6
    models = [(project / member_file("models/ensemble", seed)).read_bytes() for seed in (0, 1)]
    assert models[0] != models[1]  # trained with their own seeds
    shown = json.loads(dvc(project, "metrics", "show", "--json").stdout)
    assert "metrics/ensemble.json" in shown[""]["data"]

    # One member rebuilt alone gives the same bytes, and nothing else runs.
    again = dvc(project, "repro", "-f", "-s", "train_member@1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [line for line in again.stdout.splitlines() if line.startswith("Running")] == [
        "Running stage 'train_member@1':"
    ]
    assert (project / member_file("models/ensemble", 1)).read_bytes() == models[1]
    assert dvc(project, "status").stdout.strip() == "Data and pipelines are up to date."
