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


class Scope(tuple):
    """Where a walk may go. As a tuple it is the excluded folders (absolute bytes paths: what
    ``Indexer`` hands to ``walk`` as ``exclude``); it also holds the indexed folders' real paths
    (``roots``) and the folders whose links are followed wherever they lead (``follow``)."""

    roots: tuple[bytes, ...]
    follow: frozenset[bytes]

    def __new__(cls, exclude=(), roots=(), follow=()) -> Scope:
        self = super().__new__(cls, exclude)
        self.roots = tuple(os.path.realpath(r) for r in roots)
        self.follow = frozenset(follow)
        return self


def link_outside(path: bytes, roots: tuple[bytes, ...]) -> bytes | None:
    """The target of the symbolic link ``path`` when it lies outside every one of ``roots``
    (real paths), else None (a link loop resolves to no place outside)."""
    target = os.path.realpath(path)
    return None if any(is_within(target, r) for r in roots) else target


def walk(
    root: bytes, problems: list[WalkProblem] | None = None, exclude: tuple[bytes, ...] = ()
) -> Iterator[Entry]:
    """Photo files under ``root`` (bytes path), depth first, sorted by name.

    Hidden entries (leading dot), system folders and folders under ``exclude`` (absolute
    bytes paths) are skipped. A symbolic link (to a photo or a folder) is followed only when
    its target lies inside an indexed folder (``exclude.roots`` when it is a ``Scope``; else
    ``root`` itself), or when ``root`` follows links (``exclude.follow``); a link that leads
    elsewhere is skipped and listed in ``problems``. Linked folders are entered after every
    real one, and a folder already visited (a link loop, two links to one place) only once.
    Unreadable folders go to ``problems`` and the walk goes on.
    """
    scope = exclude if isinstance(exclude, Scope) else Scope(exclude, (root,))
    follow = root in scope.follow
    visited: set[tuple[int, int]] = set()
    try:
        st = os.stat(root)
        visited.add((st.st_dev, st.st_ino))
    except OSError as e:
        _note(problems, root, e)
        return
    stack, linked = [root], []
    while stack or linked:
        d = stack.pop() if stack else linked.pop(0)
        if d is not root and not _first_visit(d, visited, problems):
            continue
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            _note(problems, d, e)
            continue
        subdirs = []
        for e in entries:
            if e.name.startswith(b".") or e.name in SKIP_DIRS:
                continue
            if e.is_symlink() and not follow and not _link_inside(e.path, scope, problems):
                continue
            if _is_dir(e):
                if not _excluded(e.path, scope):
                    (linked if e.is_symlink() else subdirs).append(e.path)
            elif is_photo_name(e.name):
                yield _photo_entry(e)
        stack.extend(reversed(subdirs))


def _is_dir(e: os.DirEntry[bytes]) -> bool:
    try:
        return e.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _first_visit(d: bytes, visited: set, problems: list[WalkProblem] | None) -> bool:
    """Whether folder ``d`` is new to this walk (it is then marked visited)."""
    try:
        s = os.stat(d)
    except OSError as err:
        _note(problems, d, err)
        return False
    key = (s.st_dev, s.st_ino)
    if key in visited:
        return False
    visited.add(key)
    return True


def _link_inside(path: bytes, scope: Scope, problems: list[WalkProblem] | None) -> bool:
    """Whether the link ``path`` may be followed; a link outside is listed as skipped."""
    target = link_outside(path, scope.roots)
    if target is None:
        return True
    if problems is not None and (is_photo_name(os.path.basename(path)) or os.path.isdir(path)):
        problems.append(
            WalkProblem(
                path,
                f"skipped: a symbolic link to {os.fsdecode(target)}, outside the indexed "
                "folders (visual-search index --follow-links FOLDER follows such links)",
            )
        )
    return False


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
