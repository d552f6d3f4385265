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
from contextlib import ExitStack, contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_pipeline.errors import PipelineError, os_reason


@contextmanager
def atomic_path(destination: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``destination``; move it into place on success.

    On any exception the temporary file or folder is removed and the previous
    ``destination`` (if any) is left untouched. A write the system refuses (a
    full disk, a read-only file system, no permission) becomes a PipelineError
    naming the output it was for: ``destination``, or, when several outputs are
    open at once, whichever of them the failed write was for (see
    ``_failed_output``). An OSError about a path that is no output's (an input,
    say) is raised unchanged: it names its own path.
    """
    destination = Path(destination)
    if destination.is_dir() and not directory:
        raise PipelineError(f"{destination}: is a folder; expected a file name to write")
    try:
        temporary = _make_temporary(destination, directory)
    except OSError as error:
        raise _write_error(destination, error) from None
    try:
        with _being_written(_Output(destination, temporary)):
            yield temporary
        _move_into_place(temporary, destination)
    finally:
        _discard(temporary)


@contextmanager
def atomic_paths(*destinations: str | os.PathLike) -> Iterator[list[Path]]:
    """Several outputs replaced together: every one is written before any is renamed."""
    with ExitStack() as stack:
        yield [stack.enter_context(atomic_path(destination)) for destination in destinations]


@dataclass(frozen=True)
class _Output:
    destination: Path
    temporary: Path


# The outputs being written now, oldest first. A failed write unwinds through every
# one of them, innermost first, and the innermost may not be the output that failed:
# whichever sees the error first names the right one from this list.
_open_outputs: ContextVar[tuple[_Output, ...]] = ContextVar("open_outputs", default=())


@contextmanager
def _being_written(output: _Output) -> Iterator[None]:
    """While the caller writes ``output``, an OSError becomes one line naming its output."""
    _open_outputs.set((*_open_outputs.get(), output))
    try:
        yield
    except OSError as error:
        failed = _failed_output(error, _open_outputs.get())
        if failed is None:
            raise  # about a path that is no output's: it names that path itself
        raise _write_error(failed.destination, error) from None
    finally:
        # Removed by identity, not reset by token: a generator closed out of order or
        # in another context must not bring back a stale list.
        _open_outputs.set(tuple(open_ for open_ in _open_outputs.get() if open_ is not output))


def _failed_output(error: OSError, outputs: tuple[_Output, ...]) -> _Output | None:
    """The output a failed write was for, or None if the error names no output's path.

    The system names the file when opening, renaming or removing fails; a write
    through an open file object (``Path.write_bytes``, ``np.savez`` to a file,
    h5py, pandas) names none. Such a write is to the output written last: the
    file it was filling is the newest.
    """
    named = _paths_named_by(error)
    if named:
        return next((output for output in outputs if _holds_any(output, named)), None)
    return _written_last(outputs)


def _paths_named_by(error: OSError) -> list[Path]:
    # filename2 is a rename's target. realpath: a library may have resolved a symlink.
    names = (error.filename, error.filename2)
    return [_real(name) for name in names if isinstance(name, str | bytes | os.PathLike)]


def _holds_any(output: _Output, paths: list[Path]) -> bool:
    """Whether any of ``paths`` is the output's temporary or lies inside it (a folder)."""
    temporary = _real(output.temporary)
    return any(path == temporary or temporary in path.parents for path in paths)


def _real(path: str | bytes | os.PathLike) -> Path:
    return Path(os.path.realpath(os.fsdecode(path)))


def _written_last(outputs: tuple[_Output, ...]) -> _Output:
    """The output whose temporary changed last; the first if none has been written yet.

    File timestamps tick coarsely (a few milliseconds), so two outputs written in
    the same tick tie: the later-opened one wins, as stages write in that order.
    """
    written = [
        (changed, position, output)
        for position, output in enumerate(outputs)
        if (changed := _last_change_ns(output.temporary)) is not None
    ]
    return max(written)[2] if written else outputs[0]


def _last_change_ns(temporary: Path) -> int | None:
    """When anything in ``temporary`` last changed; None if the writer has not created it."""
    try:
        paths = [temporary, *temporary.rglob("*")] if temporary.is_dir() else [temporary]
        return max(path.lstat().st_mtime_ns for path in paths)
    except OSError:  # not created yet, or a file inside vanished while we looked
        return None


def _move_into_place(temporary: Path, destination: Path) -> None:
    try:
        _replace(temporary, destination)
    except OSError as error:
        raise _write_error(destination, error) from None


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


def _discard(temporary: Path) -> None:
    """Remove a temporary that was not moved into place, if it can be.

    A disk that turned read-only refuses even to unlink a file that is not there,
    and a failure here would hide the error that stopped the write: a temporary
    that cannot go is left for the next write to remove (see ``_make_temporary``).
    """
    with suppress(OSError):
        _remove(temporary)


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
