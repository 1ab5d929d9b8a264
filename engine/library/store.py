"""The library's source of truth: SQLite through SQLAlchemy Core.

Tables: ``meta`` (schema version), ``folders``, ``files`` (path, size, mtime, content hash,
width, height, status, error), ``models`` (one row per model fingerprint, with a generation
counter bumped by every change to its vectors) and ``vectors`` (one descriptor per file and
model). Paths are stored as the file system's bytes, so names that are not valid UTF-8 survive.

Connections use WAL, ``synchronous=NORMAL``, a busy timeout and foreign keys, so a kill at any
instant loses at most the transaction in flight and readers are not blocked by the writer.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, OperationalError

from ..errors import VisualSearchError

SCHEMA_VERSION = 1
DB_NAME = "library.sqlite3"

# file status: "new" waits for its first decode, "ok" decoded, "failed" could not be decoded
NEW, OK, FAILED = "new", "ok", "failed"

metadata = MetaData()

meta_t = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", String, nullable=False),
)
folders_t = Table(
    "folders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", LargeBinary, nullable=False, unique=True),
    Column("added_at", Float, nullable=False),
    Column("scanned_at", Float),
)
files_t = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "folder_id",
        Integer,
        ForeignKey("folders.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("path", LargeBinary, nullable=False, unique=True),
    Column("size", Integer, nullable=False),
    Column("mtime_ns", Integer, nullable=False),
    Column("content_hash", String, index=True),
    Column("width", Integer),
    Column("height", Integer),
    Column("status", String, nullable=False, index=True),
    Column("error", String),
    Column("updated_at", Float, nullable=False),
)
models_t = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("fingerprint", String, nullable=False, unique=True),
    Column("spec", String, nullable=False),
    Column("config", String, nullable=False),
    Column("dim", Integer, nullable=False),
    Column("generation", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=False),
)
vectors_t = Table(
    "vectors",
    metadata,
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "model_id",
        Integer,
        ForeignKey("models.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    Column("vector", LargeBinary, nullable=False),
    # the model generation that wrote this vector: lets a saved FAISS index catch up by delta
    Column("generation", Integer, nullable=False, default=0, index=True),
)


class LibraryError(VisualSearchError):
    """The library database cannot be opened or is not ours."""


def fs_bytes(path: str | os.PathLike | bytes) -> bytes:
    """A path as the bytes the file system uses (absolute, normalised)."""
    if isinstance(path, bytes):
        return os.path.abspath(path)
    return os.fsencode(os.path.abspath(os.fspath(path)))


def fs_text(path: bytes) -> str:
    """Display form of a stored path (undecodable bytes become surrogate escapes)."""
    return os.fsdecode(path)


@dataclass
class ModelRow:
    id: int
    fingerprint: str
    spec: str
    config: dict
    dim: int
    generation: int


@dataclass
class FileRow:
    id: int
    folder_id: int
    path: bytes
    size: int
    mtime_ns: int
    content_hash: str | None
    width: int | None
    height: int | None
    status: str
    error: str | None
    updated_at: float = 0.0

    @property
    def display_path(self) -> str:
        return fs_text(self.path)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


# Migrations: MIGRATIONS[v] upgrades a database at schema v to v + 1.
MIGRATIONS: dict[int, list[str]] = {}


class Store:
    """A library database. Thread-safe for reads; one writer process at a time (see lock)."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.dir / DB_NAME
        self.engine: Engine = create_engine(
            f"sqlite:///{self.db_path}", connect_args={"timeout": 10, "check_same_thread": False}
        )
        event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            self._init_schema()
        except DatabaseError as e:
            raise LibraryError(
                f"{self.db_path}: not a usable library database ({e.orig})"
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    # ----------------------------------------------------------------- schema

    def _init_schema(self) -> None:
        with self.engine.begin() as c:
            tables = {r[0] for r in c.execute(text("SELECT name FROM sqlite_master"))}
            if "meta" not in tables:
                if tables - {"sqlite_sequence"}:
                    raise LibraryError(f"{self.db_path}: not a visual-search library")
                metadata.create_all(c)
                c.execute(insert(meta_t).values(key="schema_version", value=str(SCHEMA_VERSION)))
                return
            version = int(
                c.execute(
                    select(meta_t.c.value).where(meta_t.c.key == "schema_version")
                ).scalar_one()
            )
            if version > SCHEMA_VERSION:
                raise LibraryError(
                    f"{self.db_path}: made by a newer visual-search (schema {version}); "
                    "update the program"
                )
            while version < SCHEMA_VERSION:
                for stmt in MIGRATIONS[version]:
                    c.execute(text(stmt))
                version += 1
                c.execute(
                    update(meta_t)
                    .where(meta_t.c.key == "schema_version")
                    .values(value=str(version))
                )

    def connect(self) -> Connection:
        return self.engine.connect()

    def begin(self):
        """A write transaction (``with store.begin() as c: ...``)."""
        return self.engine.begin()

    # ----------------------------------------------------------------- folders

    def folders(self) -> list[tuple[int, bytes]]:
        with self.connect() as c:
            return [(r.id, r.path) for r in c.execute(select(folders_t).order_by(folders_t.c.path))]

    def add_folder(self, path: str | os.PathLike) -> tuple[int, bytes, list[str]]:
        """Register a folder; returns ``(id, path, notes)``.

        A folder inside an already registered one is not added twice (the parent covers it);
        a new parent of registered folders absorbs them and their files.
        """
        p = fs_bytes(path)
        notes: list[str] = []
        now = time.time()
        with self.begin() as c:
            rows = c.execute(select(folders_t.c.id, folders_t.c.path)).all()
            for fid, fp in rows:
                if p == fp or p.startswith(fp.rstrip(b"/") + b"/"):
                    if p != fp:
                        notes.append(f"{fs_text(p)} is inside {fs_text(fp)}, already indexed")
                    return fid, fp, notes
            new_id = c.execute(insert(folders_t).values(path=p, added_at=now)).inserted_primary_key[
                0
            ]
            for fid, fp in rows:
                if fp.startswith(p.rstrip(b"/") + b"/"):
                    c.execute(
                        update(files_t).where(files_t.c.folder_id == fid).values(folder_id=new_id)
                    )
                    c.execute(delete(folders_t).where(folders_t.c.id == fid))
                    notes.append(f"{fs_text(fp)} is now covered by {fs_text(p)}")
            return new_id, p, notes

    def folder_for(self, path: str | os.PathLike) -> tuple[int, bytes] | None:
        p = fs_bytes(path)
        for fid, fp in self.folders():
            if p == fp or p.startswith(fp.rstrip(b"/") + b"/"):
                return fid, fp
        return None

    def mark_scanned(self, folder_id: int) -> None:
        with self.begin() as c:
            c.execute(
                update(folders_t).where(folders_t.c.id == folder_id).values(scanned_at=time.time())
            )

    def forget(self, path: str | os.PathLike) -> tuple[int, int]:
        """Remove a folder (or a single file) and its vectors. Returns (folders, files) removed."""
        p = fs_bytes(path)
        with self.begin() as c:
            fid = c.execute(select(folders_t.c.id).where(folders_t.c.path == p)).scalar()
            if fid is not None:
                n = c.execute(select(func.count()).where(files_t.c.folder_id == fid)).scalar_one()
                self._bump_all(c)
                c.execute(delete(folders_t).where(folders_t.c.id == fid))
                return 1, int(n)
            n = c.execute(delete(files_t).where(files_t.c.path == p)).rowcount
            if n:
                self._bump_all(c)
            return 0, int(n)

    # ----------------------------------------------------------------- files

    def files_in_folder(self, folder_id: int) -> dict[bytes, FileRow]:
        with self.connect() as c:
            rows = c.execute(select(files_t).where(files_t.c.folder_id == folder_id))
            return {r.path: FileRow(**r._asdict()) for r in rows}

    def file_by_path(self, path: str | os.PathLike) -> FileRow | None:
        with self.connect() as c:
            r = c.execute(select(files_t).where(files_t.c.path == fs_bytes(path))).first()
            return FileRow(**r._asdict()) if r else None

    def files_by_ids(self, ids: Iterable[int]) -> dict[int, FileRow]:
        ids = [int(i) for i in ids]
        out: dict[int, FileRow] = {}
        with self.connect() as c:
            for start in range(0, len(ids), 900):
                chunk = ids[start : start + 900]
                for r in c.execute(select(files_t).where(files_t.c.id.in_(chunk))):
                    out[r.id] = FileRow(**r._asdict())
        return out

    def failed_files(self) -> list[FileRow]:
        with self.connect() as c:
            rows = c.execute(
                select(files_t).where(files_t.c.status == FAILED).order_by(files_t.c.path)
            )
            return [FileRow(**r._asdict()) for r in rows]

    def pending_for_model(
        self, model_id: int, folder_ids: list[int] | None = None
    ) -> list[FileRow]:
        """Files that are not failed and have no vector for ``model_id`` yet, by path."""
        has = select(vectors_t.c.file_id).where(vectors_t.c.model_id == model_id)
        q = select(files_t).where(files_t.c.status != FAILED, files_t.c.id.not_in(has))
        if folder_ids is not None:
            q = q.where(files_t.c.folder_id.in_(folder_ids))
        with self.connect() as c:
            return [FileRow(**r._asdict()) for r in c.execute(q.order_by(files_t.c.path))]

    # ----------------------------------------------------------------- models

    def ensure_model(self, fingerprint: str, spec: str, config: dict, dim: int) -> ModelRow:
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

    def generation(self, model_id: int) -> int:
        with self.connect() as c:
            return int(
                c.execute(
                    select(models_t.c.generation).where(models_t.c.id == model_id)
                ).scalar_one()
            )

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
        c.execute(update(models_t).values(generation=models_t.c.generation + 1))

    # ----------------------------------------------------------------- vectors

    def count_vectors(self, model_id: int) -> int:
        with self.connect() as c:
            return int(
                c.execute(
                    select(func.count())
                    .select_from(vectors_t)
                    .where(vectors_t.c.model_id == model_id)
                ).scalar_one()
            )

    def vector_ids(self, model_id: int) -> np.ndarray:
        """File ids that have a vector for ``model_id``, ``(n,) int64``."""
        with self.connect() as c:
            rows = c.execute(select(vectors_t.c.file_id).where(vectors_t.c.model_id == model_id))
            return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def iter_vectors(
        self, model_id: int, chunk: int = 20000, newer_than: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(ids (n,) int64, xb (n, d) float32)`` chunks of a model's vectors, by file id;
        only those written after generation ``newer_than`` when given."""
        last = -1
        cond = [vectors_t.c.model_id == model_id]
        if newer_than is not None:
            cond.append(vectors_t.c.generation > newer_than)
        with self.connect() as c:
            while True:
                rows = c.execute(
                    select(vectors_t.c.file_id, vectors_t.c.vector)
                    .where(*cond, vectors_t.c.file_id > last)
                    .order_by(vectors_t.c.file_id)
                    .limit(chunk)
                ).all()
                if not rows:
                    return
                ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                xb = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
                yield ids, xb.reshape(len(rows), -1)
                last = int(ids[-1])

    def vectors_for(self, model_id: int, file_ids: Iterable[int]) -> dict[int, np.ndarray]:
        ids = [int(i) for i in file_ids]
        out = {}
        with self.connect() as c:
            for start in range(0, len(ids), 900):
                rows = c.execute(
                    select(vectors_t.c.file_id, vectors_t.c.vector).where(
                        vectors_t.c.model_id == model_id,
                        vectors_t.c.file_id.in_(ids[start : start + 900]),
                    )
                )
                for fid, blob in rows:
                    out[fid] = np.frombuffer(blob, dtype=np.float32)
        return out

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


def open_store(directory: str | os.PathLike) -> Store:
    try:
        return Store(directory)
    except OperationalError as e:
        raise LibraryError(f"{directory}: cannot open library ({e.orig})") from None
