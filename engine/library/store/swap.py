"""Putting a rebuilt database in place of a damaged one so that a kill at any instant leaves
either the old library or the rebuilt one, never neither.

``repair`` builds the new database in ``repair-staging/`` beside the damaged one (the damaged
file stays where it is meanwhile: a kill there leaves the library as it was, and the next
``repair`` starts the staging again). Once the new database is complete and on disk, a
journal (``repair-journal.json``, written atomically) records the swap; then, each step
idempotent:

1. the damaged database's ``-wal`` and ``-shm`` are moved aside (a WAL left beside the new
   file would be applied to it) and the damaged file is kept under its ``.damaged-STAMP``
   name (a hard link, or a copy where links are not possible);
2. the derived caches, which describe the damaged database, are deleted;
3. the staged database replaces the damaged one (one ``os.replace``);
4. the staged caches move into ``index/``; the staging folder and the journal go.

Whoever opens the library for writing while the journal is there finishes these steps first
(``finish_swap``); a read-only open says a repair is unfinished (``pending_swap``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from engine.atomic import fsync_dir, write_atomically
from engine.library.store.errors import LibraryError
from engine.library.store.schema import DB_NAME

JOURNAL = "repair-journal.json"
STAGING = "repair-staging"
SIDE_FILES = ("-wal", "-shm")


def pending_swap(directory: Path) -> dict | None:
    """The journal of an unfinished swap in ``directory``, or None."""
    path = Path(directory) / JOURNAL
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        journal = json.loads(text)
    except ValueError:
        journal = None
    if not isinstance(journal, dict) or not isinstance(journal.get("kept"), str):
        # written atomically, so never half a journal: this one is not ours
        raise LibraryError(f"{path}: not a repair journal of visual-search; remove it")
    return journal


def staging_dir(directory: Path) -> Path:
    return Path(directory) / STAGING


def clear_staging(directory: Path) -> None:
    """Remove what a repair killed before its swap left in ``repair-staging/``."""
    shutil.rmtree(staging_dir(directory), ignore_errors=True)


def seal(db_path: Path) -> None:
    """Make the staged database one self-contained file on disk (no ``-wal``)."""
    import sqlite3

    con = sqlite3.connect(os.fsencode(db_path))
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA journal_mode=DELETE")
    finally:
        con.close()
    with open(db_path, "rb") as f:
        os.fsync(f.fileno())
    fsync_dir(db_path.parent)


def begin_swap(directory: Path, journal: dict) -> list[str]:
    """Record the swap (``journal["kept"]``: the name the damaged file is kept under), then
    carry it out; returns the names the damaged files are kept under."""
    text = json.dumps(journal, indent=1)
    write_atomically(Path(directory) / JOURNAL, lambda p: Path(p).write_text(text, "utf-8"))
    return finish_swap(directory)


def _keep(src: Path, dst: Path) -> None:
    """``dst`` becomes a second name of ``src`` (or, where links are refused, a copy)."""
    try:
        os.link(src, dst)
    except FileExistsError:
        return
    except OSError:
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.copyfile(src, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dst)


def _clear_caches(index_dir: Path) -> None:
    if index_dir.is_dir():
        for f in index_dir.iterdir():
            if f.is_file():
                f.unlink(missing_ok=True)


def finish_swap(directory: Path) -> list[str]:
    """Carry out (or finish) the swap its journal records; the caller holds the writer lock.
    Returns the names the damaged files are kept under."""
    directory = Path(directory)
    journal = pending_swap(directory)
    if journal is None:
        return []
    db = directory / DB_NAME
    base = directory / Path(journal["kept"]).name
    staged = staging_dir(directory) / DB_NAME
    if staged.exists():
        for suffix in SIDE_FILES:
            side = Path(f"{db}{suffix}")
            if side.exists():
                os.replace(side, f"{base}{suffix}")
        if db.exists() and not base.exists():
            _keep(db, base)
        _clear_caches(directory / "index")
        fsync_dir(directory)
        os.replace(staged, db)
        fsync_dir(directory)
    staged_index = staging_dir(directory) / "index"
    if staged_index.is_dir():
        (directory / "index").mkdir(exist_ok=True)
        for f in staged_index.iterdir():
            if f.is_file() and not f.name.startswith("."):
                os.replace(f, directory / "index" / f.name)
    clear_staging(directory)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(directory / JOURNAL)
    fsync_dir(directory)
    return [str(Path(f"{base}{s}")) for s in ("", *SIDE_FILES) if Path(f"{base}{s}").exists()]
