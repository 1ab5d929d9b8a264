"""Opening the library database, read-write or read-only, and telling damage from other
database errors.

A library opened for reading never writes: SQLite's ``mode=ro``, or, where even that needs a
write (a WAL database in a folder where its ``-shm`` file cannot be created: a read-only
mount, another user's library), ``immutable=1`` — safe there, as nobody can be writing it.
An immutable open would not see changes still in a ``-wal`` file, so that case is refused
with its reason instead.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import QueuePool

from engine.library.store.errors import LibraryError, damaged, read_only

# SQLite's primary result codes (the low byte of an extended code)
SQLITE_READONLY, SQLITE_CORRUPT, SQLITE_CANTOPEN, SQLITE_NOTADB = 8, 11, 14, 26


def sqlite_code(exc: BaseException) -> int | None:
    """The primary SQLite result code behind ``exc`` (a SQLAlchemy or sqlite3 error)."""
    code = getattr(getattr(exc, "orig", exc), "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def is_damage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database file is damaged or not a database at all."""
    if sqlite_code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return True
    text = str(getattr(exc, "orig", exc))
    return "malformed" in text or "not a database" in text


def translate(exc: BaseException, db_path: Path) -> Exception | None:
    """The user-facing error for a database error, or None to let it through."""
    detail = str(getattr(exc, "orig", exc))
    if is_damage(exc):
        return damaged(db_path, detail)
    if sqlite_code(exc) == SQLITE_READONLY:
        return read_only(db_path.parent, detail)
    return None


@contextlib.contextmanager
def translated(db_path: Path) -> Iterator[None]:
    """Re-raise damage and read-only errors from the database as one-line library errors."""
    try:
        yield
    except DatabaseError as e:
        mapped = translate(e, db_path)
        if mapped is None:
            raise
        raise mapped from None


def sqlite_uri(db_path: Path, immutable: bool = False) -> str:
    """A ``mode=ro`` URI for ``db_path`` (any bytes in its name percent-encoded)."""
    path = quote(os.fsencode(os.path.abspath(db_path)))
    return f"file:{path}?mode=ro" + ("&immutable=1" if immutable else "")


def set_wal(cur: sqlite3.Cursor, wait: float = 10.0) -> None:
    """``PRAGMA journal_mode=WAL``, waiting up to ``wait`` seconds for another connection.

    Switching a file to WAL takes a lock SQLite's busy timeout does not wait for: two
    processes creating one new library at the same instant got "database is locked" at once in
    29 of 60 tries; so the switch is tried again until it goes through or ``wait`` runs out.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if ("locked" not in str(e) and "busy" not in str(e)) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def open_engine(db_path: Path, read_only: bool, immutable: bool = False) -> Engine:
    """A SQLAlchemy engine on ``db_path``: WAL, ``synchronous=NORMAL``, a busy timeout and
    foreign keys; read-only ones through a ``mode=ro`` (or ``immutable``) URI."""

    def connect() -> sqlite3.Connection:
        kw = {"timeout": 10, "check_same_thread": False}
        if read_only:
            return sqlite3.connect(sqlite_uri(db_path, immutable), uri=True, **kw)
        return sqlite3.connect(os.fsencode(db_path), **kw)

    def pragmas(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        if not read_only:
            set_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool)
    event.listen(engine, "connect", pragmas)
    return engine


def needs_immutable(exc: BaseException, db_path: Path) -> bool:
    """Whether a ``mode=ro`` open failed only because it could not create the WAL index
    (then an immutable open reads the same data); raises when changes wait in a ``-wal``."""
    if sqlite_code(exc) not in (SQLITE_READONLY, SQLITE_CANTOPEN):
        return False
    wal = db_path.with_name(db_path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise LibraryError(
            f"{db_path}: cannot be read from a folder without write access while its latest "
            f"changes wait in {wal.name} (it is being written, or was not closed cleanly); "
            "let a user with write access open it once (`visual-search index` of one of its "
            "folders, or the desktop application), then try again"
        )
    return True


def not_writable(directory: Path, db_path: Path) -> str | None:
    """Why the library at ``directory`` cannot be written, or None when it can."""
    for p in (directory, db_path):
        if not p.exists():
            continue
        eff = os.access in os.supports_effective_ids
        if os.access(p, os.W_OK, effective_ids=eff):
            continue
        flags = getattr(os.statvfs(p), "f_flag", 0) if hasattr(os, "statvfs") else 0
        if flags & getattr(os, "ST_RDONLY", 0):
            return "read-only file system"
        return f"no write permission for {p}"
    return None
