"""What changed in indexed folders since the library last saw them: new, changed, moved and
deleted photos, found by a walk (stat only) compared with the store, without writing anything.

``find_changes`` is what ``Indexer.scan`` applies, and what the window runs on its own (after a
file-system event, or every few minutes) to decide whether a background re-index is needed.

A move is a new path with the content of a vanished file: the same size and the same quick
content hash (the first and last 64 KiB). The store keeps no device and inode numbers, so a
file moved *and* edited is a deletion and an addition. Only new files whose size equals a
vanished file's are read to check; a check with nothing vanished reads no file at all.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from engine.library.index.scan import Scope, WalkProblem, quick_hash, walk
from engine.library.store import FAILED, FileRow, FileState, Store
from engine.library.store.fspath import fs_bytes, fs_text
from engine.tasks import ProgressFn, StopFn

#: seconds between two progress messages of the walk (``should_stop`` is asked every 64 photos)
REPORT_SECONDS = 0.5


@dataclass
class Changes:
    """A folder walk compared with the store. ``moved`` and ``changed`` pair the stored row
    with what is on disk now; ``unchanged`` holds the ids of files with the same size and
    mtime; ``problems`` what the walk could not read."""

    new: list[FileState] = field(default_factory=list)
    changed: list[tuple[FileRow, FileState]] = field(default_factory=list)
    moved: list[tuple[FileRow, FileState]] = field(default_factory=list)
    deleted: list[FileRow] = field(default_factory=list)
    unchanged: set[int] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    #: files that failed before and did not change: an index run tries them again (a
    #: permission since granted, a file renamed back), but they are not a change, so the
    #: window's check does not start a re-index for them
    failed_before: list[tuple[FileRow, FileState]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.new or self.changed or self.moved or self.deleted)

    def counts(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "changed": len(self.changed),
            "moved": len(self.moved),
            "deleted": len(self.deleted),
        }

    def text(self) -> str:
        """``"2 new, 1 moved, 3 deleted photos"``, or ``"no change"``."""
        parts = [f"{n} {what}" for what, n in self.counts().items() if n]
        if not parts:
            return "no change"
        total = sum(self.counts().values())
        return ", ".join(parts) + (" photo" if total == 1 else " photos")


def find_changes(
    store: Store,
    folders: Sequence[tuple[int, bytes]],
    exclude: tuple[bytes, ...] = (),
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> Changes | None:
    """Compare the photos on disk under ``folders`` ``[(id, path)]`` with the store; None when
    ``should_stop`` turned true during the walk. ``exclude``: as ``scan.walk`` takes it."""
    progress = progress or (lambda done, total, msg: None)
    should_stop = should_stop or (lambda: False)
    stored: dict[bytes, FileRow] = {}
    for fid, _ in folders:
        stored.update(store.files.files_in_folder(fid))
    found: dict[bytes, FileState] = {}
    problems: list[WalkProblem] = []
    last = time.monotonic()
    for fid, root in folders:
        for e in walk(root, problems, exclude):
            found[e.path] = FileState(fid, e.path, e.size, e.mtime_ns, error=e.error)
            if len(found) % 64:
                continue
            if should_stop():
                return None
            if time.monotonic() - last > REPORT_SECONDS:
                progress(len(found), 0, f"scanning: {len(found)} photos found")
                last = time.monotonic()
    out = Changes(problems=[f"{fs_text(p.path)}: {p.reason}" for p in problems])
    for path, f in found.items():
        row = stored.get(path)
        if row is None:
            out.new.append(f)
        elif row.size == f.size and row.mtime_ns == f.mtime_ns and f.error is None:
            if row.status == FAILED:
                out.failed_before.append((row, replace(f, content_hash=row.content_hash)))
            else:
                out.unchanged.add(row.id)
        else:
            out.changed.append((row, f))
    vanished = {p: r for p, r in stored.items() if p not in found}
    _match_moves(out, vanished, progress)
    out.deleted = sorted(vanished.values(), key=lambda r: r.path)
    return out


def library_changes(
    store: Store,
    exclude: Sequence[str | os.PathLike] | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> Changes | None:
    """``find_changes`` over every registered folder that still exists (a folder that is gone,
    such as an unplugged drive, is not a folder of deleted photos), leaving out ``exclude``."""
    registered = store.files.folders()
    scope = Scope(
        (fs_bytes(x) for x in exclude or ()),
        [p for _, p in registered],
        store.files.following_links(),
    )
    folders = [(fid, p) for fid, p in registered if os.path.isdir(p)]
    return find_changes(store, folders, scope, progress, should_stop)


def _match_moves(out: Changes, vanished: dict[bytes, FileRow], progress: ProgressFn) -> None:
    """Move the new files that hold a vanished file's content from ``out.new`` to
    ``out.moved`` (the vanished row leaves ``vanished``). Only new files of a vanished file's
    size are read."""
    by_key: dict[tuple[str, int], list[FileRow]] = {}
    for r in vanished.values():
        if r.content_hash:
            by_key.setdefault((r.content_hash, r.size), []).append(r)
    sizes = {size for _, size in by_key}
    candidates = [f for f in out.new if f.error is None and f.size in sizes]
    if not candidates:
        return
    still_new, hashed = [], {}
    last = time.monotonic()
    for i, f in enumerate(candidates):
        if time.monotonic() - last > REPORT_SECONDS:
            progress(i, len(candidates), f"scanning: looking for moved photos ({i} checked)")
            last = time.monotonic()
        hashed[f.path] = replace(f, content_hash=quick_hash(f.path, f.size))
    for f in out.new:
        f = hashed.get(f.path, f)
        rows = by_key.get((f.content_hash, f.size)) if f.content_hash else None
        if rows:
            r = rows.pop()
            del vanished[r.path]
            out.moved.append((r, f))
        else:
            still_new.append(f)
    out.new = still_new
