"""Atomic file writes: write to a temporary file beside the target, then ``os.replace`` it into place.

A reader (or a process killed mid-write) therefore sees either the old file or the new one, never half of it.
``run_lock`` keeps two processes from writing one run folder at the same time.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: run_lock locks nothing
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success move it over ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write(target: str | os.PathLike[str], write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp_path)`` and atomically move the result to ``target``."""
    with atomic_path(target) as tmp:
        write(tmp)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    atomic_write(target, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=False) + "\n")


LOCK_NAME = ".lock"


class FolderLocked(Exception):
    """``run_lock`` found the folder locked by another process (``pid``: its process id, None when unknown)."""

    def __init__(self, folder: Path, pid: int | None):
        self.folder, self.pid = folder, pid
        super().__init__(f"{folder} is being written by another vaekit process (pid {pid if pid else '?'})")


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (a run folder, created if need be) while the block runs.

    Non-blocking: raises ``FolderLocked`` at once when another process (or another ``run_lock`` of this one) holds
    it. The lock is ``fcntl.flock`` on ``folder/.lock``, which the OS releases when its process ends, even by
    ``kill -9``: a stale ``.lock`` file never blocks. On platforms without ``fcntl`` (Windows) it locks nothing.
    On exit the lock file is removed, and the folder too when this call created it and it is still empty.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    path = folder / LOCK_NAME
    fd = _acquire(path, folder)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        path.unlink(missing_ok=True)  # still holding the lock: a waiting process re-opens (see _acquire)
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()


def _acquire(path: Path, folder: Path) -> int:
    """Open and flock ``path``; retry when the file was removed or replaced by its previous holder meanwhile."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise FolderLocked(folder, pid) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # we locked a file its holder had just removed: lock the current one instead


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
