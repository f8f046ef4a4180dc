"""Writing a file so that a crash never loses the last good one: a unique
temporary file, fsynced, the current file kept as ``<name>.prev``, then one
atomic ``os.replace`` (docs/usage.md, "Checkpoints")."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["prev_path", "write_atomically"]


def prev_path(path: Path) -> Path:
    """Where the previous version of ``path`` is kept."""
    return path.with_name(path.name + ".prev")


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a new temporary file next to ``path``, fsync it,
    keep the current ``path`` as :func:`prev_path`, and move the new file
    into place with one ``os.replace``: readers see the old or the new file,
    never a part, and several writers never share a file name. On any error
    the temporary file is removed and ``path`` is unchanged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            _keep_prev(path)
        os.replace(tmp, path)  # atomic: readers see the old or the new file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _keep_prev(path: Path):
    """Make ``path.prev`` the current file, atomically, without touching
    ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".prev", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        try:
            os.link(path, tmp)
        except OSError:  # no hard links here (or the file went away): copy
            shutil.copy2(path, tmp)
        os.replace(tmp, prev_path(path))
    except FileNotFoundError:  # another writer replaced it meanwhile
        Path(tmp).unlink(missing_ok=True)


def _fsync_dir(folder: Path):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
