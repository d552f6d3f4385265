"""Atomic writes: an output is either the previous one, or the complete new one.

DVC caches whatever a stage leaves behind when it exits 0, and a stage can be
killed at any moment, so every output is built under a temporary name in the
destination folder and renamed into place only once it is complete.
"""

import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np

from mnist_pipeline.errors import PipelineError, os_reason


@contextmanager
def atomic_path(destination: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``destination``; move it into place on success.

    On any exception the temporary file or folder is removed and the previous
    ``destination`` (if any) is left untouched. A write the system refuses (a
    full disk, a read-only file system, no permission) becomes a PipelineError
    naming ``destination``.
    """
    destination = Path(destination)
    if destination.is_dir() and not directory:
        raise PipelineError(f"{destination}: is a folder; expected a file name to write")
    try:
        temporary = _make_temporary(destination, directory)
    except OSError as error:
        raise _write_error(destination, error) from None
    try:
        yield temporary
        _replace(temporary, destination)
    except OSError as error:
        raise _write_error(destination, error) from None
    finally:
        _remove(temporary)


@contextmanager
def atomic_paths(*destinations: str | os.PathLike) -> Iterator[list[Path]]:
    """Several outputs replaced together: every one is written before any is renamed."""
    with ExitStack() as stack:
        yield [stack.enter_context(atomic_path(destination)) for destination in destinations]


def _make_temporary(destination: Path, directory: bool) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = f".{destination.stem}.", f".tmp{destination.suffix}"
    # A process killed outright (SIGKILL) cannot clean up: the next write does.
    for stale in destination.parent.glob(f"{glob.escape(prefix)}*{glob.escape(suffix)}"):
        _remove(stale)
    # Keep the suffix: some writers (Keras) choose the format by it.
    temporary = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=destination.parent))
    if directory:
        temporary.chmod(0o777 & ~_umask())  # mkdtemp makes it private; outputs are not
    else:
        temporary.rmdir()
    return temporary


def _write_error(destination: Path, error: OSError) -> PipelineError:
    return PipelineError(f"cannot write {destination}: {os_reason(error)}; nothing was replaced")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace(source: Path, destination: Path) -> None:
    """Rename ``source`` over ``destination``; a folder cannot be renamed over, so swap it."""
    if destination.is_dir() and not destination.is_symlink():
        retired = destination.with_name(f".{destination.name}.old")
        _remove(retired)
        destination.rename(retired)
        source.rename(destination)
        _remove(retired)
    else:
        source.replace(destination)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, data: object) -> None:
    with atomic_path(path) as temporary:
        dump_json(temporary, data)


def dump_json(path: Path, data: object) -> None:
    """Sorted keys and a final newline: the same data gives the same bytes."""
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    with atomic_path(path) as temporary:
        save_npz(temporary, **arrays)


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    # np.savez appends ".npz" to a name without it; a file object keeps our name.
    with path.open("wb") as file:
        np.savez(file, **arrays)


def sha256_of_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
