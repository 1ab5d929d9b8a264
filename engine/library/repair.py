"""Repairing a library whose database is damaged ("database disk image is malformed", or not
a database at all). Photos are never touched:

1. the damaged file (with its ``-wal`` and ``-shm``) is set aside, kept under a timestamped
   name (``library.sqlite3.damaged-YYYYMMDD-HHMMSS``);
2. the derived caches (FAISS index, inverted file) go: they describe the old database;
3. a fresh database is made, and the folders that can still be read from the damaged file
   are indexed again (with the model it used), or listed when ``reindex`` is off.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import VisualSearchError
from engine.library.store.errors import LibraryError, LibraryMissingError
from engine.library.store.fspath import fs_text
from engine.library.store.lock import WriterLock
from engine.library.store.schema import DB_NAME
from engine.library.store.sqlite import sqlite_uri

if TYPE_CHECKING:
    from engine.library.index.indexer import IndexSummary
    from engine.tasks import ProgressFn


@dataclass
class RepairReport:
    """What ``repair_library`` found and did (``damaged`` None: nothing needed repair)."""

    library: str
    damaged: str | None = None
    kept: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)  # recovered from the damaged file
    missing: list[str] = field(default_factory=list)  # of those, not on disk any more
    model: str | None = None
    summary: IndexSummary | None = None
    error: str | None = None  # why indexing again failed (the rest was done)

    def to_dict(self) -> dict:
        d = {k: v for k, v in vars(self).items() if k != "summary"}
        d["indexed"] = self.summary.to_dict() if self.summary else None
        return d


def check_database(db_path: Path) -> str | None:
    """What is wrong with the database, or None when it is sound (and a library)."""
    try:
        con = sqlite3.connect(os.fsencode(db_path))
        try:
            found = [r[0] for r in con.execute("PRAGMA quick_check").fetchmany(3)]
            if found != ["ok"]:
                return "database disk image is malformed: " + " ".join(found[0].split())
            names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        return str(e)
    if names and "meta" not in names:
        raise LibraryError(f"{db_path}: not a visual-search library; repair leaves it alone")
    return None


def salvage(db_path: Path) -> tuple[list[bytes], str | None]:
    """The folders (as stored: bytes) and the last model spec still readable in a damaged
    database; whatever cannot be read is left out."""
    folders: list[bytes] = []
    spec = None
    try:
        con = sqlite3.connect(sqlite_uri(db_path), uri=True)
    except sqlite3.Error:
        return folders, spec
    try:
        with contextlib.suppress(sqlite3.Error):
            # a plain table scan: the index on path may be what is damaged
            for (path,) in con.execute("SELECT path FROM folders NOT INDEXED"):
                folders.append(bytes(path) if not isinstance(path, str) else os.fsencode(path))
        with contextlib.suppress(sqlite3.Error):
            row = con.execute("SELECT spec FROM models ORDER BY last_used_at DESC").fetchone()
            spec = row[0] if row else None
    finally:
        con.close()
    return sorted(folders), spec


def set_aside(directory: Path) -> list[str]:
    """Rename the database and its ``-wal``/``-shm`` to ``*.damaged-STAMP`` names (a WAL
    left beside a fresh database would be applied to it) and delete the derived caches."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = directory / f"{DB_NAME}.damaged-{stamp}"
    n = 1
    while base.exists():
        n += 1
        base = directory / f"{DB_NAME}.damaged-{stamp}-{n}"
    kept = []
    for suffix in ("", "-wal", "-shm"):
        src = directory / f"{DB_NAME}{suffix}"
        if src.exists():
            dst = Path(f"{base}{suffix}")
            os.replace(src, dst)
            kept.append(str(dst))
    index_dir = directory / "index"
    if index_dir.is_dir():
        for f in index_dir.iterdir():
            if f.is_file():
                f.unlink(missing_ok=True)
    return kept


def repair_library(
    directory: str | os.PathLike,
    model: str | None = None,
    device: str = "auto",
    reindex: bool = True,
    progress: ProgressFn | None = None,
    precision: str = "auto",
) -> RepairReport:
    """Set a damaged library database aside and rebuild what can be rebuilt (see above)."""
    from engine.library import Library

    directory = Path(directory).expanduser()
    db_path = directory / DB_NAME
    if not db_path.is_file():
        raise LibraryMissingError(f"no library at {directory}")
    report = RepairReport(str(directory))
    with WriterLock(directory):
        report.damaged = check_database(db_path)
        if report.damaged is None:
            return report
        found, spec = salvage(db_path)
        report.kept = set_aside(directory)
    report.folders = [fs_text(p) for p in found]
    report.missing = [fs_text(p) for p in found if not os.path.isdir(p)]
    report.model = model or spec
    with Library(directory, device=device, mode="create", precision=precision) as lib:
        here = [p for p in report.folders if p not in report.missing]
        if reindex and here:
            try:
                report.summary = lib.index(here, model=report.model, progress=progress)
            except VisualSearchError as e:
                report.error = str(e)
    return report
