"""Repairing a library whose database is damaged ("database disk image is malformed", or not
a database at all). Photos are never touched:

1. a fresh database is made in ``repair-staging/`` beside the damaged one, and the folders
   that can still be read from the damaged file are indexed into it again (with the model it
   used), or listed when ``reindex`` is off;
2. the fresh database is swapped in (``store.swap``): the damaged file (with its ``-wal`` and
   ``-shm``) is kept under a timestamped name (``library.sqlite3.damaged-YYYYMMDD-HHMMSS``),
   the derived caches (FAISS index, inverted file), which describe it, go.

The writer lock is held throughout. Killed before the swap, the library is as it was (still
damaged: ``status`` says so, and the next ``repair`` starts again); killed during the swap,
the next ``repair`` (or any open for writing) finishes it.
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
from engine.library.store.integrity import quick_check
from engine.library.store.lock import WriterLock
from engine.library.store.schema import DB_NAME
from engine.library.store.sqlite import sqlite_uri
from engine.library.store.swap import (
    SIDE_FILES,
    begin_swap,
    clear_staging,
    finish_swap,
    pending_swap,
    seal,
    staging_dir,
)

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
    finished_interrupted: bool = False  # this run finished a repair killed midway
    emptied_from: str | None = None  # a sound but empty library: the kept file it indexed from

    def to_dict(self) -> dict:
        d = {k: v for k, v in vars(self).items() if k != "summary"}
        d["indexed"] = self.summary.to_dict() if self.summary else None
        return d


def check_database(db_path: Path) -> str | None:
    """What is wrong with the database, or None when it is sound (and a library). Opened
    read-only: the damaged file (and its WAL) is kept exactly as found."""
    try:
        con = sqlite3.connect(sqlite_uri(db_path), uri=True)
        try:
            problem = quick_check(con, db_path, full=True)
            if problem:
                return problem
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
    database; whatever cannot be read is left out. When the folders table itself is what is
    damaged, each folder is the deepest one that holds every photo the files table still
    names under it."""
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
                folders.append(_as_bytes(path))
        if not folders:
            folders = _folders_of_files(con)
        with contextlib.suppress(sqlite3.Error):
            row = con.execute("SELECT spec FROM models ORDER BY last_used_at DESC").fetchone()
            spec = row[0] if row else None
    finally:
        con.close()
    return sorted(folders), spec


def _as_bytes(path) -> bytes:
    return bytes(path) if not isinstance(path, str) else os.fsencode(path)


def _folders_of_files(con: sqlite3.Connection) -> list[bytes]:
    """Per folder id of the files table (as far as it reads), the deepest folder holding all
    of its photos."""
    by_folder: dict[int, list[bytes]] = {}
    with contextlib.suppress(sqlite3.Error):
        for fid, path in con.execute("SELECT folder_id, path FROM files NOT INDEXED"):
            by_folder.setdefault(fid, []).append(os.path.dirname(_as_bytes(path)))
    return [os.path.commonpath(dirs) for dirs in by_folder.values() if dirs]


def kept_name(directory: Path) -> str:
    """A free ``library.sqlite3.damaged-YYYYMMDD-HHMMSS`` name to keep the damaged file
    under (its ``-wal`` and ``-shm`` get the same name with their suffix)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{DB_NAME}.damaged-{stamp}"
    n = 1
    while any((directory / f"{base}{s}").exists() for s in ("", *SIDE_FILES)):
        n += 1
        base = f"{DB_NAME}.damaged-{stamp}-{n}"
    return base


def _finish_interrupted(directory: Path, journal: dict) -> RepairReport:
    """Finish the swap of a repair killed after its new database was complete."""
    report = RepairReport(str(directory), damaged=journal.get("damaged") or "damaged")
    report.folders = list(journal.get("folders", []))
    report.missing = list(journal.get("missing", []))
    report.model = journal.get("model")
    report.kept = finish_swap(directory)
    report.finished_interrupted = True
    return report


def _index_into(
    library_dir: Path, report: RepairReport, mode: str, reindex: bool, **open_kw
) -> None:
    """Index the folders of ``report`` still on disk into the library at ``library_dir``."""
    from engine.library import Library

    progress = open_kw.pop("progress")
    with Library(library_dir, mode=mode, **open_kw) as lib:
        here = [p for p in report.folders if p not in report.missing]
        if reindex and here:
            try:
                report.summary = lib.index(here, model=report.model, progress=progress)
            except VisualSearchError as e:
                report.error = str(e)


def _salvaged(report: RepairReport, db_path: Path, model: str | None) -> None:
    found, spec = salvage(db_path)
    report.folders = [fs_text(p) for p in found]
    report.missing = [fs_text(p) for p in found if not os.path.isdir(p)]
    report.model = model or spec


def kept_databases(directory: Path) -> list[Path]:
    """The damaged databases earlier repairs kept in ``directory``, newest first."""
    kept = [
        p
        for p in directory.glob(f"{DB_NAME}.damaged-*")
        if p.is_file() and not p.name.endswith((*SIDE_FILES, ".tmp"))
    ]
    return sorted(kept, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def _emptied(db_path: Path) -> bool:
    """Whether a sound library database names no folder at all."""
    con = sqlite3.connect(sqlite_uri(db_path), uri=True)
    try:
        return con.execute("SELECT count(*) FROM folders").fetchone()[0] == 0
    finally:
        con.close()


def repair_library(
    directory: str | os.PathLike,
    model: str | None = None,
    device: str = "auto",
    reindex: bool = True,
    progress: ProgressFn | None = None,
    precision: str = "auto",
) -> RepairReport:
    """Rebuild a damaged library database beside it and swap it in (see above); finish a
    repair that was interrupted. A sound database that names no folder while a damaged one
    is kept beside it (left by a repair of an older version killed midway, or by
    ``reindex`` off) gets the folders that one names indexed again."""
    directory = Path(directory).expanduser()
    db_path = directory / DB_NAME
    if not directory.is_dir():
        raise LibraryMissingError(f"no library at {directory}")
    open_kw = {"device": device, "precision": precision, "progress": progress}
    with WriterLock(directory):
        journal = pending_swap(directory)
        if journal is not None:
            return _finish_interrupted(directory, journal)
        if not db_path.is_file():
            raise LibraryMissingError(f"no library at {directory}")
        report = RepairReport(str(directory))
        clear_staging(directory)  # a repair killed before its swap: start it again
        report.damaged = check_database(db_path)
        if report.damaged is not None:
            _salvaged(report, db_path, model)
            _index_into(staging_dir(directory), report, "create", reindex, **open_kw)
            seal(staging_dir(directory) / DB_NAME)
            journal = {
                "kept": kept_name(directory),
                "damaged": report.damaged,
                **{k: getattr(report, k) for k in ("folders", "missing", "model")},
            }
            report.kept = begin_swap(directory, journal)
            return report
        kept = kept_databases(directory)
        if not (kept and _emptied(db_path)):
            return report
        report.emptied_from = str(kept[0])
        _salvaged(report, kept[0], model)
    # indexing takes the writer lock itself
    _index_into(directory, report, "write", reindex, **open_kw)
    return report
