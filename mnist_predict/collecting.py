"""The image files that named paths give: files, and image files inside folders.

Each path that gives none, and each entry of a folder that cannot be read as an
image file, comes with its true reason (no such file, a dangling symlink, a
symlink loop, a FIFO, a device, no permission ...).
"""

import errno
import stat
from pathlib import Path

from mnist_pipeline.errors import os_reason

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def collect_images(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Image files named or inside named folders; and each path that gives none, with why."""
    files, failures = [], []
    for path in paths:
        kind = _kind(path)
        if kind == "folder":
            found, bad = _images_in(path)
            files.extend(found)
            failures.extend(bad)
            if not found and not bad:
                failures.append((path, f"no images ({', '.join(IMAGE_SUFFIXES)}) in this folder"))
        elif kind == "file":
            files.append(path)
        else:
            failures.append((path, kind))
    return files, failures


def _images_in(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The folder's entries named like images: the files, and the others with their reason."""
    try:
        entries = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as error:
        return [], [(folder, f"cannot list this folder: {os_reason(error)}")]
    files, failures = [], []
    for entry in entries:
        kind = _kind(entry)
        if kind == "file":
            files.append(entry)
        else:
            failures.append((entry, "a folder, not an image file" if kind == "folder" else kind))
    return files, failures


def _kind(path: Path) -> str:
    """'file', 'folder', or the true reason this path cannot be read as an image."""
    try:
        mode = path.stat().st_mode  # follows symlinks
    except FileNotFoundError:
        return (
            "a symlink whose target does not exist"
            if path.is_symlink()
            else "no such file or folder"
        )
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symlink loop"
        return os_reason(error).lower()
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not an image file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not an image file"
    return "not a regular file"
