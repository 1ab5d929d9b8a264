"""The library's source of truth: SQLite through SQLAlchemy Core.

Every SQL statement of the library runs in ``Store`` (this module, ``store_files.py`` and
``store_vectors.py``); the indexer, the facade and the benchmarks call its methods. Tables and
row types are in ``schema.py``. Changes to a model's vectors advance its generation
(``_bump`` / ``_bump_all`` here, the only places that do), which tells a saved FAISS index it
must catch up; what is derived from a file's pixels is dropped in one place, ``_drop_derived``.

Connections use WAL, ``synchronous=NORMAL``, a busy timeout and foreign keys, so a kill at any
instant loses at most the transaction in flight and readers are not blocked by the writer.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError

from engine.library.store.codes import LocalTable
from engine.library.store.errors import LibraryError, LibraryMissingError, read_only
from engine.library.store.files import FileTables
from engine.library.store.fspath import fs_bytes, fs_text
from engine.library.store.lock import WriterLock
from engine.library.store.schema import (
    DB_NAME,
    FAILED,
    MIGRATIONS,
    NEW,
    OK,
    SCHEMA_VERSION,
    FileRow,
    FileState,
    ModelRow,
    codebooks_t,
    files_t,
    local_codes_t,
    meta_t,
    metadata,
    models_t,
    vectors_t,
)
from engine.library.store.sqlite import (
    needs_immutable,
    not_writable,
    open_engine,
    translate,
    translated,
)
from engine.library.store.vectors import VectorTable

__all__ = [
    "FAILED",
    "NEW",
    "OK",
    "FileRow",
    "FileState",
    "LibraryError",
    "ModelRow",
    "Store",
    "fs_bytes",
    "fs_text",
    "open_store",
]

#: ``create``: make the library if it is not there (indexing); ``write``: it must exist;
#: ``read``: it must exist and is opened read-only (nothing is written to the database)
MODES = ("create", "write", "read")


class Store(FileTables, VectorTable, LocalTable):
    """A library database. Thread-safe for reads; one writer process at a time (see lock).

    Folder and file methods are in ``store_files.py``, vector methods in ``store_vectors.py``;
    this class opens the database and owns models and their generations. A library that
    cannot be written (``read_only_reason`` says why) is opened read-only and still searches.
    """

    def __init__(self, directory: str | os.PathLike, mode: str = "create") -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.dir = Path(directory)
        self.db_path = self.dir / DB_NAME
        exists = self.db_path.is_file()
        if mode != "create" and not exists:
            raise LibraryMissingError(f"no library at {self.dir}")
        if mode == "create" and not exists:
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise LibraryError(f"{self.dir}: cannot create a library ({e.strerror})") from None
        why = "opened for reading" if mode == "read" else not_writable(self.dir, self.db_path)
        if why and not exists:
            raise read_only(self.dir, f"{why}; cannot create a library there")
        self.read_only_reason: str | None = why
        self.engine: Engine = open_engine(self.db_path, read_only=bool(why))
        try:
            self._open_schema()
        except LibraryError:
            self.engine.dispose()
            raise
        except DatabaseError as e:
            self.engine.dispose()
            raise translate(e, self.db_path) or LibraryError(
                f"{self.db_path}: not a usable library database ({e.orig})"
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
            if not needs_immutable(e, self.db_path):
                raise
            self.engine.dispose()
            self.engine = open_engine(self.db_path, read_only=True, immutable=True)
            with self.engine.connect() as c:
                self._check_schema(c)

    def _check_schema(self, c: Connection) -> int:
        """The schema version of an existing library (refusing what is not one)."""
        tables = {r[0] for r in c.execute(text("SELECT name FROM sqlite_master"))}
        if "meta" not in tables:
            if tables - {"sqlite_sequence"}:
                raise LibraryError(f"{self.db_path}: not a visual-search library")
            if self.read_only:
                raise LibraryMissingError(f"no library at {self.dir} (its database is empty)")
            return 0
        version = int(
            c.execute(select(meta_t.c.value).where(meta_t.c.key == "schema_version")).scalar_one()
        )
        if version > SCHEMA_VERSION:
            raise LibraryError(
                f"{self.db_path}: made by a newer visual-search (schema {version}); "
                "update the program"
            )
        if version < SCHEMA_VERSION and self.read_only:
            raise LibraryError(
                f"{self.db_path}: made by an older visual-search (schema {version}); open it "
                "once with write access (`visual-search index`) to bring it up to date"
            )
        return version

    def _init_schema(self) -> None:
        with self.engine.begin() as c:
            version = self._check_schema(c)
            if version == 0:
                metadata.create_all(c)
                c.execute(insert(meta_t).values(key="schema_version", value=str(SCHEMA_VERSION)))
                return
            while version < SCHEMA_VERSION:
                for stmt in MIGRATIONS[version]:
                    c.execute(text(stmt))
                version += 1
                c.execute(
                    update(meta_t)
                    .where(meta_t.c.key == "schema_version")
                    .values(value=str(version))
                )

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading (``with store.connect() as c: ...``)."""
        with translated(self.db_path), self.engine.connect() as c:
            yield c

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction (``with store.begin() as c: ...``); refused when read-only."""
        if self.read_only_reason:
            raise read_only(self.dir, self.read_only_reason)
        with translated(self.db_path), self.engine.begin() as c:
            yield c

    def writer_lock(self) -> WriterLock:
        """The library's writer lock (``with store.writer_lock(): ...``); refused at once when
        the library is read-only."""
        if self.read_only_reason:
            raise read_only(self.dir, self.read_only_reason)
        return WriterLock(self.dir)

    # ----------------------------------------------------------------- models

    def ensure_model(self, fingerprint: str, spec: str, config: dict, dim: int) -> ModelRow:
        """The model's row, registered if new and marked as used now. Read-only: the stored
        row as it is, or a row with no vectors (id -1) for a model the library never used."""
        if self.read_only:
            return self.model(fingerprint) or ModelRow(-1, fingerprint, spec, config, dim, 0)
        now = time.time()
        with self.begin() as c:
            r = c.execute(select(models_t).where(models_t.c.fingerprint == fingerprint)).first()
            if r is None:
                c.execute(
                    insert(models_t).values(
                        fingerprint=fingerprint,
                        spec=spec,
                        config=json.dumps(config, sort_keys=True),
                        dim=dim,
                        generation=0,
                        created_at=now,
                        last_used_at=now,
                    )
                )
            else:
                c.execute(
                    update(models_t)
                    .where(models_t.c.id == r.id)
                    .values(last_used_at=now, spec=spec)
                )
        m = self.model(fingerprint)
        assert m is not None
        return m

    def model(self, fingerprint: str) -> ModelRow | None:
        with self.connect() as c:
            r = c.execute(select(models_t).where(models_t.c.fingerprint == fingerprint)).first()
        return self._model_row(r) if r else None

    def models(self) -> list[ModelRow]:
        """Every model with vectors here, most recently used first."""
        with self.connect() as c:
            rows = c.execute(select(models_t).order_by(models_t.c.last_used_at.desc()))
            return [self._model_row(r) for r in rows]

    @staticmethod
    def _model_row(r) -> ModelRow:
        return ModelRow(r.id, r.fingerprint, r.spec, json.loads(r.config), r.dim, r.generation)

    # ----------------------------------------------------------------- generations

    def generation(self, model_id: int) -> int:
        with self.connect() as c:
            g = c.execute(
                select(models_t.c.generation).where(models_t.c.id == model_id)
            ).scalar_one_or_none()
        return int(g or 0)

    def bump_generation(self, model_id: int) -> int:
        """Mark ``model_id``'s vectors as changed (a saved index must catch up); returns the
        new generation."""
        with self.begin() as c:
            return self._bump(c, model_id)

    @staticmethod
    def _bump(c: Connection, model_id: int) -> int:
        """Advance a model's generation inside transaction ``c``; returns the new value."""
        c.execute(
            update(models_t)
            .where(models_t.c.id == model_id)
            .values(generation=models_t.c.generation + 1)
        )
        return int(
            c.execute(select(models_t.c.generation).where(models_t.c.id == model_id)).scalar_one()
        )

    @staticmethod
    def _bump_all(c: Connection) -> None:
        """Advance every model's and codebook's generation inside ``c`` (files left or lost
        what was computed from them)."""
        c.execute(update(models_t).values(generation=models_t.c.generation + 1))
        c.execute(update(codebooks_t).values(generation=codebooks_t.c.generation + 1))

    @classmethod
    def _drop_derived(cls, c: Connection, file_ids: Iterable[int]) -> None:
        """Inside ``c``, delete what was computed from these files' pixels for every model
        (their vectors and local codes) and advance every generation. Deleted files lose
        it by cascade."""
        file_ids = list(file_ids)
        c.execute(delete(vectors_t).where(vectors_t.c.file_id.in_(file_ids)))
        c.execute(delete(local_codes_t).where(local_codes_t.c.file_id.in_(file_ids)))
        cls._bump_all(c)

    # ----------------------------------------------------------------- summary

    def counts(self) -> dict:
        with self.connect() as c:
            by_status = dict(
                c.execute(select(files_t.c.status, func.count()).group_by(files_t.c.status)).all()
            )
            per_folder = c.execute(
                select(files_t.c.folder_id, files_t.c.status, func.count()).group_by(
                    files_t.c.folder_id, files_t.c.status
                )
            ).all()
            per_model = dict(
                c.execute(
                    select(vectors_t.c.model_id, func.count()).group_by(vectors_t.c.model_id)
                ).all()
            )
        folders: dict[int, dict[str, int]] = {}
        for fid, status, n in per_folder:
            folders.setdefault(fid, {})[status] = n
        return {"files": by_status, "folders": folders, "vectors": per_model}


def open_store(directory: str | os.PathLike, mode: str = "create") -> Store:
    try:
        return Store(directory, mode)
    except DatabaseError as e:
        raise LibraryError(f"{directory}: cannot open library ({e.orig})") from None
