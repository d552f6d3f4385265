"""The README's console blocks say what the commands print today."""

import re
import subprocess

import yaml

from tests.conftest import README, REPO, readme_output


def committed_params() -> dict:
    """params.yaml as committed: the workspace may hold an experiment's changes."""
    shown = subprocess.run(
        ["git", "show", "HEAD:params.yaml"], cwd=REPO, capture_output=True, text=True, check=True
    )
    return yaml.safe_load(shown.stdout)


def test_the_run_cache_example_returns_to_the_committed_epochs():
    (epochs,) = re.findall(r"dvc exp run -S train\.epochs=(\d+) +# back to the committed", README)
    assert int(epochs) == committed_params()["train"]["epochs"]


def test_the_metrics_table_shows_the_committed_metrics_files_and_keys():
    header, *rows = readme_output("dvc metrics show")
    assert header.split() == [
        "Path",
        "test.accuracy",
        "test.loss",
        "test.onnx_agreement",
        "val.accuracy",
        "val.loss",
    ]
    assert [row.split()[0] for row in rows] == ["metrics/evaluate.json", "metrics/export.json"]
    assert max(map(len, [header, *rows])) <= 120
