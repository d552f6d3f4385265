"""The ensemble: averaging, its params, its stage, and its pipeline in real dvc."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from mnist_pipeline.dataset import RawData, Split, save_splits
from mnist_pipeline.ensemble import ensemble_metrics, member_file
from mnist_pipeline.errors import ParamsError
from mnist_pipeline.params import load_params
from mnist_pipeline.params.ensemble import EnsembleStageParams
from mnist_pipeline.preprocess import make_splits
from tests.conftest import REPO, run_stage, tiny_params, write_params
from tests.dvc_project import dvc, git, git_status, make_project


def one_hot(labels, confidence=0.9):
    probabilities = np.full((len(labels), 10), (1 - confidence) / 9, np.float32)
    probabilities[np.arange(len(labels)), labels] = confidence
    return probabilities


def test_the_ensemble_reads_the_mean_of_its_members_probabilities():
    labels = np.array([0, 1, 2, 3])
    split = Split(np.zeros((4, 28, 28), np.uint8), labels)
    right = one_hot(labels)
    wrong_once = one_hot(np.array([0, 1, 2, 5]), confidence=0.6)  # sure of less
    metrics = ensemble_metrics(split, [right, wrong_once], seeds=[7, 8])
    assert metrics["accuracy"] == 1.0  # 0.9 + 0.04 on 3 beats 0.011 + 0.6 on 5
    assert metrics["member_accuracy"] == {"7": 1.0, "8": 0.75}
    assert metrics["members"] == 2


@pytest.mark.parametrize(
    ("seeds", "expected"),
    [
        ([], "ensemble.seeds: [] is not allowed: tuple should have at least 1 item"),
        ([1, 1], "ensemble.seeds: [1, 1] is not allowed: value error, each seed must appear once"),
        ([-1], "ensemble.seeds.0: -1 is not allowed"),
    ],
)
def test_bad_seeds_are_refused(tmp_path, seeds, expected):
    params = write_params(tmp_path / "params.yaml", {**tiny_params(), "ensemble": {"seeds": seeds}})
    with pytest.raises(ParamsError) as error:
        load_params(params, EnsembleStageParams)
    assert expected in str(error.value)


def evaluate_ensemble(root: Path, seeds: list[int], data: RawData, member=None):
    """The stage on ``data``'s splits, with ``member`` copied in as every seed's model."""
    processed, members = root / "processed", root / "members"
    processed.mkdir()
    save_splits(processed, make_splits(data, 0.1, 0))
    members.mkdir()
    for seed in seeds if member else ():
        shutil.copy(member, member_file(members, seed))
    params = write_params(root / "params.yaml", {**tiny_params(), "ensemble": {"seeds": seeds}})
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
    for split in ("val", "test"):
        # Two copies of one model: the mean is that model, and both members score alike.
        assert scores[split]["members"] == 2
        assert scores[split]["member_accuracy"]["3"] == scores[split]["member_accuracy"]["5"]
        assert scores[split]["accuracy"] == pytest.approx(scores[split]["member_accuracy"]["3"])
    assert scores["test"]["accuracy"] > 0.6


@pytest.mark.slow
def test_a_missing_member_is_named_and_nothing_is_written(tmp_path, tiny_mnist):
    result, metrics = evaluate_ensemble(tmp_path, [3], tiny_mnist)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {member_file(tmp_path / 'members', 3)}: ")
    assert len(result.stderr.splitlines()) == 1
    assert not metrics.exists()


@pytest.mark.slow
def test_the_ensemble_pipeline_is_opt_in_and_each_member_is_its_own_stage(
    tmp_path, tiny_mnist_file, tiny_mnist
):
    project = make_project(tmp_path / "repo", tiny_mnist_file, tiny_mnist)  # runs dvc repro
    assert not (project / "models/ensemble").exists()  # the default repro trains no member
    shutil.copytree(REPO / "ensemble", project / "ensemble")
    params = yaml.safe_load((project / "params.yaml").read_text())
    write_params(project / "params.yaml", {**params, "ensemble": {"seeds": [0, 1]}})

    first = dvc(project, "repro", "ensemble/dvc.yaml")
    assert first.returncode == 0, first.stdout + first.stderr
    ran = [line for line in first.stdout.splitlines() if line.startswith("Running stage")]
    assert ran == [
        "Running stage 'ensemble/dvc.yaml:train_member@0':",
        "Running stage 'ensemble/dvc.yaml:train_member@1':",
        "Running stage 'ensemble/dvc.yaml:evaluate_ensemble':",
    ]
    scores = json.loads((project / "metrics/ensemble.json").read_text())
    assert scores["test"]["members"] == 2 and scores["test"]["accuracy"] > 0.6
    models = [(project / member_file("models/ensemble", seed)).read_bytes() for seed in (0, 1)]
    assert models[0] != models[1]  # trained with their own seeds
    git(project, "add", "-A")
    git(project, "commit", "-qm", "the ensemble")
    shown = json.loads(dvc(project, "metrics", "show", "--json").stdout)
    assert "metrics/ensemble.json" in shown[""]["data"]

    # One member rebuilt alone gives the same bytes, and nothing else runs.
    again = dvc(project, "repro", "-f", "-s", "ensemble/dvc.yaml:train_member@1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [line for line in again.stdout.splitlines() if line.startswith("Running")] == [
        "Running stage 'ensemble/dvc.yaml:train_member@1':"
    ]
    assert (project / member_file("models/ensemble", 1)).read_bytes() == models[1]
    assert git_status(project) == ""
    assert dvc(project, "status").stdout.strip() == "Data and pipelines are up to date."
