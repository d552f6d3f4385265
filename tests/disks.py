"""Real file-system faults for tests: a tmpfs of any size or mode, and a folder's bytes.

Mounting needs Linux and root (CI runs as root); elsewhere the test skips.
Shared by tests/test_write_failures.py and tests/test_atomic.py.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest


def mount_tmpfs(point: Path, options: str) -> None:
    """A tmpfs at ``point`` with mount ``options`` ("size=64k", "ro", ...); unmount it after."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs Linux and root; CI runs as root")
    point.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], check=True)


def contents(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, by relative path: what must not change when a write fails."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
