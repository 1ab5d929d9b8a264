"""Atomic files (checkpoints, codebooks, the derived caches): write to a temporary file in
the same folder, fsync, rename over the old one, fsync the folder. A kill at any instant
leaves the old file or the new one, never half of one; what a kill leaves behind is at most
a temporary file (``.NAME.XXXXXXXX.tmp``), which no reader looks at and
``remove_leftover_temporaries`` clears.

Files are created with the mode the umask gives (as SQLite and ``open`` do), so the caches
beside a library database share its permissions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

TMP_SUFFIX = ".tmp"


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not possible on every platform
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def file_digest(path: str | os.PathLike) -> str:
    """BLAKE2b of the whole file, read in 1 MiB blocks (cheap next to loading it)."""
    h = hashlib.blake2b()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _new_temporary(path: Path) -> str:
    """Create an empty temporary file beside ``path``, mode 0666 less the umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}"
        try:
            os.close(os.open(tmp, flags, 0o666))
            return str(tmp)
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


def write_atomically(path: Path, write: Callable[[str], None]) -> None:
    """``write(tmp_path)`` fills a temporary file that then replaces ``path``."""
    tmp = _new_temporary(Path(path))
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomically(path: Path, obj) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f)

    write_atomically(path, write)
    fsync_dir(path.parent)


def remove_leftover_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed writer left in ``directory``; returns them.

    Call it only while holding the folder's writer lock: another process's write in
    progress would lose its temporary file (and fail, leaving the old file in place)."""
    gone = []
    with contextlib.suppress(OSError):
        for f in Path(directory).glob(f".*{TMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                f.unlink()
                gone.append(f)
    return gone
