"""The errors a user can act on, and how a command reports them.

Anything raised as a ``PipelineError`` is the user's to fix (a bad param, a
missing input, a corrupt download): it is printed as one line, without a
traceback, and the process exits non-zero so that DVC never caches the
stage's outputs. Anything else is a bug and keeps its traceback.
"""

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# DVC keeps the models in its cache, git the metrics and plot data (cache: false), and
# `dvc checkout` restores only the former: both commands, so that every output is back.
RESTORE_COMMAND = "git checkout -- dvc.lock metrics plots && dvc checkout"
RESTORE_HINT = f"`{RESTORE_COMMAND}` brings back the last committed outputs, without training"


class PipelineError(Exception):
    """A problem the user can fix, reported as one line."""

    exit_code = 1


class ParamsError(PipelineError):
    """params.yaml is unreadable or holds a value that is not allowed."""

    exit_code = 2


class MissingInputError(PipelineError):
    """An input a stage needs is not on disk."""

    def __init__(self, path, what: str):
        super().__init__(
            f"{path}: {what} not found; run `dvc repro` to build it "
            "(or `dvc pull` if it is in a DVC remote)"
        )


class Terminated(BaseException):
    """SIGTERM or SIGINT, raised so that ``finally`` blocks remove temporary files."""

    def __init__(self, signal_number: int):
        super().__init__(signal_number)
        self.exit_code = 128 + signal_number


# Every stop signal received. Python only reports an exception raised inside a
# __del__ or a C callback, so a signal landing there would be lost without this.
_stop_signals: list[int] = []
# How many stop_signals_deferred() blocks are running: inside one, a signal is recorded only.
_deferring = 0


def _raise_terminated(signal_number, _frame):
    _stop_signals.append(signal_number)
    if not _deferring:
        raise Terminated(signal_number)


def raise_if_stopped() -> None:
    """Raise for a stop signal that was deferred, or whose exception was swallowed."""
    if _stop_signals:
        raise Terminated(_stop_signals[0])


@contextmanager
def stop_signals_deferred() -> Iterator[None]:
    """Run TensorFlow's work with Ctrl-C and SIGTERM recorded, not raised; raise after it.

    TensorFlow checks for signals while its ops run, so Python runs the handler in
    the middle of one; an exception raised there, mid-op, can corrupt its heap
    (glibc aborts the process, "free(): invalid next size") and no ``finally``
    runs: the stage's temporary outputs stayed behind. Inside this block the
    handler only records the signal; code calls ``raise_if_stopped`` where it is
    safe (between training steps), and the block raises on its way out.
    """
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    raise_if_stopped()


# What a stage says when stopped: under `dvc repro` its previous outputs were removed
# before it started, but dvc.lock still records them and git and DVC's cache hold them.
STAGE_INTERRUPTED = f"interrupted; no output was written; {RESTORE_HINT}"


def run_command(
    main: Callable[[list[str] | None], int | None], interrupted: str = STAGE_INTERRUPTED
) -> None:
    """Run ``main`` as a command: user errors become one line and an exit status.

    ``main`` may return an exit status (None means success); ``interrupted`` is
    the line (after "error: ") for Ctrl-C or SIGTERM.
    """
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGINT, _raise_terminated)
    try:
        status = main(None)
        raise_if_stopped()
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    except OSError as error:  # what the system said no to: a full disk, no permission, ...
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
        sys.exit(1)
    except (KeyboardInterrupt, Terminated) as stop:
        print(f"error: {interrupted}", file=sys.stderr)
        sys.exit(getattr(stop, "exit_code", 128 + signal.SIGINT))
    sys.exit(status or 0)


def os_reason(error: OSError) -> str:
    """What the system said, on one line (h5py and others may give no strerror)."""
    return error.strerror or first_line(error)


# TensorFlow's graph errors say where the graph was built before they say what went wrong.
WHERE_LINES = ("Graph execution error", "Detected at node", "File ")


def first_line(error: Exception, limit: int = 400) -> str:
    """A library's error message, cut to one line for ours (or its type, if it has none)."""
    lines = (line.strip() for line in str(error).splitlines())
    cause = next((line for line in lines if line and not line.startswith(WHERE_LINES)), "")
    return cause[:limit] or type(error).__name__


def describe_os_error(error: OSError) -> str:
    """One line: the path, if the error names one, and what the system said."""
    return f"{error.filename}: {os_reason(error)}" if error.filename else os_reason(error)


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Keep C++ start-up notes off the terminal while TensorFlow loads.

    TensorFlow 2.21 logs through absl before absl is set up, so its INFO lines
    ("oneDNN custom operations are on", ...) ignore TF_CPP_MIN_LOG_LEVEL and
    land before a user's one-line error. Python-level errors still surface:
    they are raised after file descriptor 2 is back.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with Path(os.devnull).open("w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
