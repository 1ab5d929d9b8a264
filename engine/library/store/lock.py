"""One writer per library: an OS file lock that dies with its process.

Readers never take it (SQLite's WAL lets them read while a writer commits). A second writer
gets ``LibraryBusyError`` at once instead of waiting or corrupting anything; a killed writer's
lock is released by the OS, so a restart never finds a stale lock.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from engine.errors import VisualSearchError
from engine.library.store.errors import read_only

if os.name == "nt":  # pragma: no cover - exercised on Windows builds
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class LibraryBusyError(VisualSearchError):
    """Another process is writing to this library."""


class WriterLock:
    """``with WriterLock(dir):`` — exclusive, non-blocking, released on exit or process death."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.path = Path(directory) / "writer.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            raise read_only(self.path.parent, e.strerror or "cannot write") from None
        if not _try_lock(fd):
            try:
                owner = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            except (AttributeError, OSError):
                owner = "?"
            os.close(fd)
            raise LibraryBusyError(
                f"another visual-search process (pid {owner}) is updating this library; "
                "searching still works — try again when it has finished"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0) if hasattr(os, "pwrite") else None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                _unlock(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def ensure_not_busy(directory: str | os.PathLike) -> None:
    """Raise ``LibraryBusyError`` if another process is writing to the library."""
    with WriterLock(directory):
        pass
