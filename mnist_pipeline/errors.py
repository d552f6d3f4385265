"""The errors a user can act on, and how a command reports them.

Anything raised as a ``PipelineError`` is the user's to fix (a bad param, a
missing input, a corrupt download): it is printed as one line, without a
traceback, and the process exits non-zero so that DVC never caches the
stage's outputs. Anything else is a bug and keeps its traceback.
"""

import sys
from collections.abc import Callable


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


def run_command(main: Callable[[list[str] | None], object]) -> None:
    """Run ``main`` as a command: user errors become one line and an exit status."""
    try:
        main(None)
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted; outputs were left as they were", file=sys.stderr)
        sys.exit(130)
