"""Writing a file so that a crash never loses the last good one: a unique
temporary file, fsynced, the current file kept as ``<name>.prev``, then one
atomic ``os.replace`` (docs/usage.md, "Checkpoints").

Writers in one folder take turns (an advisory ``flock`` on the folder), so
a writer that holds the lock knows that the temporary files of the same
name left there are orphans of interrupted saves (``kill -9``), and
removes them: the folder keeps the file and its one ``.prev``. Where
``flock`` is missing (Windows, some network file systems) writers do not
wait for each other, and each removes only its own temporary files.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ["describe_write_error", "prev_path", "write_atomically"]


def prev_path(path: Path) -> Path:
    """Where the previous version of ``path`` is kept."""
    return path.with_name(path.name + ".prev")


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a new temporary file next to ``path``, fsync it,
    keep the current ``path`` as :func:`prev_path`, and move the new file
    into place with one ``os.replace``: readers see the old or the new file,
    never a part. On any error the temporary files are removed and ``path``
    is unchanged; an ``OSError`` (no space, a file-size limit, a parent that
    is a file) propagates, and :func:`describe_write_error` explains it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _folder_lock(path.parent) as locked:
        if locked:
            _remove_orphans(path)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
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


def describe_write_error(path: Path, e: OSError) -> str:
    """What went wrong writing ``path``, and what to do instead."""
    blocker = next((p for p in path.parents if p.is_file()), None)
    if blocker is not None:
        return (
            f"Cannot write {path}: {blocker} is a file, not a folder. Pass a "
            "path inside a folder."
        )
    reasons = {
        errno.EFBIG: "the file would pass the file-size limit (see `ulimit -f`)",
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is used up",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
    }
    why = reasons.get(e.errno, e.strerror or str(e))
    code = errno.errorcode.get(e.errno, "error")
    return (
        f"Cannot write {path}: {why} ({code}). The previous file, if any, is "
        "unchanged and no temporary file is left; free space or raise the limit, "
        "or pass a path on another disk."
    )


@contextmanager
def _folder_lock(folder: Path):
    """Hold an exclusive advisory lock on ``folder``; yield whether it is
    held. Each call opens the folder anew, so threads take turns too."""
    try:
        fd = os.open(folder, os.O_RDONLY) if fcntl is not None else None
    except OSError:
        fd = None
    if fd is None:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError:  # a file system without flock
            locked = False
        yield locked
    finally:
        os.close(fd)  # releases the lock


def _remove_orphans(path: Path):
    """Remove the temporary files that interrupted saves of ``path`` left
    (only called while holding the folder's lock)."""
    orphan = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.(?:tmp|prev)")
    for entry in os.listdir(path.parent):
        if orphan.fullmatch(entry):
            try:
                (path.parent / entry).unlink()
            except OSError:
                pass


def _keep_prev(path: Path):
    """Make ``path.prev`` the current file, atomically, without touching
    ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".prev", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        try:
            os.link(path, tmp)
        except FileNotFoundError:  # another writer replaced it meanwhile
            return
        except OSError:  # no hard links here: copy
            shutil.copy2(path, tmp)
        os.replace(tmp, prev_path(path))
    except FileNotFoundError:  # another writer replaced it meanwhile
        pass
    finally:
        # os.replace does nothing when both names link one file (POSIX), as
        # when two writers kept the same current file: remove the name.
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
