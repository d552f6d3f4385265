"""Sharing through a DVC remote: a real S3-compatible server process on loopback (moto's).

One clone pushes; a second, fresh clone pulls and has nothing to run; experiments
travel through a bare git remote with `dvc exp push` and `dvc exp pull`.
"""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dvc_project import BIN, dvc, git, git_status, make_project, stages_run

pytestmark = pytest.mark.slow
BUCKET = "mnist-pipeline"
# moto accepts any credentials; DVC's S3 client insists on having some.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the S3 server exited: {process.stderr.read()}"
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)  # polling an observable state: the port answering
    raise AssertionError(f"no S3 server at {url} within {timeout}s")


@pytest.fixture(scope="module")
def s3_server(monkeypatch_module) -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1, with an empty bucket; stopped afterwards."""
    for name, value in CREDENTIALS.items():
        monkeypatch_module.setenv(name, value)
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        request = urllib.request.Request(f"{url}/{BUCKET}", method="PUT")  # create the bucket
        urllib.request.urlopen(request, timeout=10).close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def shared(tmp_path_factory, s3_server, tiny_mnist_file, tiny_mnist) -> dict[str, Path]:
    """A project whose commit names the S3 remote, pushed to a bare git repo and to S3."""
    root = tmp_path_factory.mktemp("team")
    project = make_project(root / "alice", tiny_mnist_file, tiny_mnist)
    for command in (
        ["remote", "add", "--default", "storage", f"s3://{BUCKET}/cache"],
        ["remote", "modify", "storage", "endpointurl", s3_server],
    ):
        assert dvc(project, *command).returncode == 0
    git(project, "commit", "-qam", "share the cache through S3")
    pushed = dvc(project, "push")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    origin = root / "origin.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    git(project, "remote", "add", "origin", str(origin))
    git(project, "push", "-q", "origin", "main")
    return {"root": root, "alice": project, "origin": origin}


def fresh_clone(shared: dict[str, Path], name: str) -> Path:
    git(shared["root"], "clone", "-q", str(shared["origin"]), name)
    return shared["root"] / name


def test_a_fresh_clone_pulls_everything_and_has_nothing_to_run(shared):
    clone = fresh_clone(shared, "bob")
    pulled = dvc(clone, "pull")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    for name in ("models/model.keras", "data/processed/train.npz", "report/report.md"):
        assert (clone / name).read_bytes() == (shared["alice"] / name).read_bytes()
    result = dvc(clone, "repro")
    assert result.returncode == 0, result.stdout + result.stderr
    assert stages_run(result) == []
    assert git_status(clone) == ""


def test_an_experiment_travels_with_exp_push_and_exp_pull(shared):
    alice = shared["alice"]
    ran = dvc(alice, "exp", "run", "-n", "two-epochs", "-S", "train.epochs=2")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    expected_metrics = (alice / "metrics/evaluate.json").read_text()
    expected_model = (alice / "models/model.keras").read_bytes()
    pushed = dvc(alice, "exp", "push", "origin", "two-epochs")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr

    carol = fresh_clone(shared, "carol")
    pulled = dvc(carol, "exp", "pull", "origin", "two-epochs")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    listed = json.loads(dvc(carol, "exp", "show", "--json").stdout)
    assert "two-epochs" in json.dumps(listed)
    applied = dvc(carol, "exp", "apply", "two-epochs")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert (carol / "metrics/evaluate.json").read_text() == expected_metrics
    assert (carol / "models/model.keras").read_bytes() == expected_model
    assert dvc(carol, "status").stdout.strip() == "Data and pipelines are up to date."
