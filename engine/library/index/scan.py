"""Walking photo folders: what is there, cheaply (stat only, no decoding)."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from engine.library.store.fspath import is_within
from engine.photo.formats import IMAGE_EXTENSIONS, is_photo_name  # noqa: F401  (re-exported)

#: folders never worth indexing (system, trash and NAS thumbnail folders)
SKIP_DIRS = {
    b"$RECYCLE.BIN",
    b"System Volume Information",
    b"@eaDir",
    b"#recycle",
    b"#snapshot",
    b"lost+found",
    b"__MACOSX",
    b"$Recycle.Bin",
    b"Thumbs",
}


@dataclass
class Entry:
    """A photo file found by the walk; ``error`` is set when it cannot even be stat'ed."""

    path: bytes
    size: int
    mtime_ns: int
    error: str | None = None


@dataclass
class WalkProblem:
    path: bytes
    reason: str


def walk(
    root: bytes, problems: list[WalkProblem] | None = None, exclude: tuple[bytes, ...] = ()
) -> Iterator[Entry]:
    """Photo files under ``root`` (bytes path), depth first, sorted by name.

    Hidden entries (leading dot), system folders and folders under ``exclude`` (absolute
    bytes paths) are skipped; directory symlinks are
    followed, but a directory already visited (a symlink loop, or two links to one place)
    is entered only once. Unreadable folders go to ``problems`` and the walk goes on.
    """
    visited: set[tuple[int, int]] = set()
    try:
        st = os.stat(root)
        visited.add((st.st_dev, st.st_ino))
    except OSError as e:
        _note(problems, root, e)
        return
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            _note(problems, d, e)
            continue
        subdirs = []
        for e in entries:
            name = e.name
            if name.startswith(b".") or name in SKIP_DIRS:
                continue
            try:
                is_dir = e.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                try:
                    s = os.stat(e.path)
                except OSError as err:
                    _note(problems, e.path, err)
                    continue
                key = (s.st_dev, s.st_ino)
                if key in visited or _excluded(e.path, exclude):
                    continue
                visited.add(key)
                subdirs.append(e.path)
            elif is_photo_name(name):
                yield _photo_entry(e)
        stack.extend(reversed(subdirs))


def _note(problems: list[WalkProblem] | None, path: bytes, e: OSError) -> None:
    """Record that ``path`` could not be read, when the caller collects ``problems``."""
    if problems is not None:
        problems.append(WalkProblem(path, _reason(e)))


def _photo_entry(e: os.DirEntry[bytes]) -> Entry:
    """The walk's entry for a photo file: its size and time, or why it cannot be stat'ed."""
    try:
        s = os.stat(e.path)
    except OSError as err:
        return Entry(e.path, 0, 0, _reason(err, e.is_symlink()))
    if not stat.S_ISREG(s.st_mode):
        return Entry(e.path, 0, 0, "not a regular file")
    return Entry(e.path, s.st_size, s.st_mtime_ns)


def _excluded(path: bytes, exclude: tuple[bytes, ...]) -> bool:
    return any(is_within(path, x) for x in exclude)


def _reason(e: OSError, is_link: bool = False) -> str:
    if e.errno == errno.ELOOP:
        return "symbolic link loop"
    if isinstance(e, FileNotFoundError):
        return "broken symbolic link" if is_link else "file not found"
    if isinstance(e, PermissionError):
        return "permission denied"
    if e.errno == errno.ENAMETOOLONG:
        return "file name too long"
    return f"cannot access ({e.strerror or e})"


def quick_hash(path: bytes, size: int, block: int = 1 << 16) -> str | None:
    """Content id from the size and the first and last 64 KiB (enough to recognise a moved
    photo without reading all of it). None if the file cannot be read."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(size).encode())
    try:
        with open(path, "rb") as f:
            h.update(f.read(block))
            if size > 2 * block:
                f.seek(size - block)
                h.update(f.read(block))
            elif size > block:
                h.update(f.read())
    except OSError:
        return None
    return h.hexdigest()
