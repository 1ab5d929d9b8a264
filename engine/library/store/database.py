"""One library database: its connection pool, schema version and writer lock.

Connections use WAL, ``synchronous=NORMAL``, a busy timeout and foreign keys, so a kill at any
instant loses at most the transaction in flight and readers are not blocked by the writer. A
library that cannot be written (``read_only_reason`` says why) is opened read-only and still
searches. Every open first finishes a repair that was killed during its swap (``swap``), then
runs a quick integrity check (``integrity``): a damaged page is refused at once, with the way
to ``repair``, whatever the command goes on to read.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError

from engine.library.store.errors import (
    LibraryDamagedError,
    LibraryError,
    LibraryMissingError,
    damaged,
    read_only,
)
from engine.library.store.integrity import check_statements, quick_check
from engine.library.store.lock import WriterLock
from engine.library.store.schema import DB_NAME, MIGRATIONS, SCHEMA_VERSION, meta_t, metadata
from engine.library.store.sqlite import (
    is_damage,
    needs_immutable,
    not_writable,
    open_engine,
    translate,
    translated,
)
from engine.library.store.swap import finish_swap, pending_swap

#: ``create``: make the library if it is not there (indexing); ``write``: it must exist;
#: ``read``: it must exist and is opened read-only (nothing is written to the database)
MODES = ("create", "write", "read")


class Database:
    """The SQLite file of a library. Thread-safe for reads; one writer process at a time."""

    def __init__(self, directory: str | os.PathLike, mode: str = "create") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.dir = Path(directory)
        self.path = self.dir / DB_NAME
        exists = self.path.is_file()
        if mode != "create" and not exists:
            raise LibraryMissingError(f"no library at {self.dir}")
        if mode == "create" and not exists:
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise LibraryError(f"{self.dir}: cannot create a library ({e.strerror})") from None
        why = "opened for reading" if mode == "read" else not_writable(self.dir, self.path)
        if why and not exists:
            raise read_only(self.dir, f"{why}; cannot create a library there")
        self.read_only_reason: str | None = why
        if exists:
            self._finish_repair()
        self.engine: Engine = open_engine(self.path, read_only=bool(why))
        try:
            self._open_schema()
            self._checked_whole = len(check_statements(self.path)) == 1
            self.check_integrity()
        except LibraryError:
            self.engine.dispose()
            raise
        except DatabaseError as e:
            self.engine.dispose()
            raise translate(e, self.path) or LibraryError(
                f"{self.path}: not a usable library database ({e.orig})"
            ) from None

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None

    def close(self) -> None:
        self.engine.dispose()

    # ----------------------------------------------------------------- schema

    def _open_schema(self) -> None:
        if not self.read_only:
            self._init_schema()
            return
        try:
            with self.engine.connect() as c:
                self._check_schema(c)
        except DatabaseError as e:
            if not needs_immutable(e, self.path):
                raise
            self.engine.dispose()
            self.engine = open_engine(self.path, read_only=True, immutable=True)
            with self.engine.connect() as c:
                self._check_schema(c)

    def _check_schema(self, c: Connection) -> int:
        """The schema version of an existing library (refusing what is not one)."""
        tables = {r[0] for r in c.execute(text("SELECT name FROM sqlite_master"))}
        if "meta" not in tables:
            if tables - {"sqlite_sequence"}:
                raise LibraryError(f"{self.path}: not a visual-search library")
            if self.read_only:
                raise LibraryMissingError(f"no library at {self.dir} (its database is empty)")
            return 0
        version = int(
            c.execute(select(meta_t.c.value).where(meta_t.c.key == "schema_version")).scalar_one()
        )
        if version > SCHEMA_VERSION:
            raise LibraryError(
                f"{self.path}: made by a newer visual-search (schema {version}); update the program"
            )
        if version < SCHEMA_VERSION and self.read_only:
            raise LibraryError(
                f"{self.path}: made by an older visual-search (schema {version}); open it "
                "once with write access (`visual-search index`) to bring it up to date"
            )
        return version

    def _init_schema(self) -> None:
        """Create or migrate the tables. Two processes opening a new library at once: the
        first takes SQLite's write lock (``BEGIN IMMEDIATE``) and the other waits for it (the
        busy timeout), then finds the tables made; without the lock both would see no table
        and the second ``CREATE TABLE`` would fail."""
        with self.engine.connect() as c:
            if self._check_schema(c) == SCHEMA_VERSION:
                return
        with self.engine.connect() as c:
            c.exec_driver_sql("BEGIN IMMEDIATE")
            version = self._check_schema(c)  # again: another process may have made them
            if version == 0:
                metadata.create_all(c)
                c.execute(insert(meta_t).values(key="schema_version", value=str(SCHEMA_VERSION)))
            while 0 < version < SCHEMA_VERSION:
                for stmt in MIGRATIONS[version]:
                    c.execute(text(stmt))
                version += 1
                c.execute(
                    update(meta_t)
                    .where(meta_t.c.key == "schema_version")
                    .values(value=str(version))
                )
            c.commit()

    def check_integrity(self, full: bool = False) -> None:
        """Refuse a database that ``quick_check`` finds damaged (see ``integrity``), with
        the way to repair it. ``full``: every table, however large the database (``status``
        asks for it; the check on open may have walked only the small tables)."""
        if full and self._checked_whole:
            return
        with self.engine.connect() as c:
            try:
                problem = quick_check(c.connection.driver_connection, self.path, full)
            except sqlite3.DatabaseError as e:  # the driver's own, not SQLAlchemy's
                if not is_damage(e):
                    raise
                problem = str(e)
        if problem:
            raise damaged(self.path, problem)

    def _finish_repair(self) -> None:
        """Finish the swap of a repair killed midway (see ``swap``), or, opening for
        reading, say that one is unfinished."""
        if pending_swap(self.dir) is None:
            return
        if self.read_only_reason:
            folder = shlex.quote(str(self.dir))
            raise LibraryDamagedError(
                f"{self.dir}: a repair of this library was interrupted before it finished; "
                f"run `visual-search repair --library {folder}` to finish it (your photos "
                "are untouched)"
            )
        with WriterLock(self.dir):
            finish_swap(self.dir)

    # ----------------------------------------------------------------- connections

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading (``with db.connect() as c: ...``)."""
        with translated(self.path), self.engine.connect() as c:
            yield c

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction (``with db.begin() as c: ...``); refused when read-only."""
        if self.read_only_reason:
            raise read_only(self.dir, self.read_only_reason)
        with translated(self.path), self.engine.begin() as c:
            yield c

    def writer_lock(self) -> WriterLock:
        """The library's writer lock (``with db.writer_lock(): ...``); refused at once when
        the library is read-only."""
        if self.read_only_reason:
            raise read_only(self.dir, self.read_only_reason)
        return WriterLock(self.dir)
