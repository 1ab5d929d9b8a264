"""The library database's tables and the plain rows read from them.

Tables: ``meta`` (schema version), ``folders``, ``files`` (path, size, mtime, content hash,
width, height, status, error), ``models`` (one row per model fingerprint, with a generation
counter bumped by every change to its vectors) and ``vectors`` (one descriptor per file and
model), ``codebooks`` (one row per visual-word codebook, with its generation counter),
``codebook_centroids`` (the centroids of a codebook learned from the library, apart from the
counter every commit of codes advances) and ``local_codes`` (per file and
codebook: ASMK* words and bits, each feature's word and keypoint, a perceptual hash). Paths
are stored as the file system's bytes, so names that are not valid UTF-8 survive.

Only this package runs SQL against these tables; everything else calls the methods of
``Store``'s parts. Changes to what was derived from a file's pixels advance generations
(``advance_model``, ``advance_all``, ``drop_derived`` below, the only places that do), which
tells a saved FAISS index or inverted file it must catch up.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    select,
    update,
)
from sqlalchemy.engine import Connection

from engine.library.store.fspath import fs_text

SCHEMA_VERSION = 4
DB_NAME = "library.sqlite3"

# file status: "new" waits for its first decode, "ok" decoded, "failed" could not be decoded
NEW, OK, FAILED = "new", "ok", "failed"

#: rows per write transaction when a scan records many files at once
ROWS_PER_TRANSACTION = 5000
#: ids per ``IN (...)`` clause (old SQLite builds allow at most 999 bound variables)
IDS_PER_QUERY = 900

# Migrations: MIGRATIONS[v] upgrades a database at schema v to v + 1.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE TABLE codebooks (fingerprint VARCHAR PRIMARY KEY, words INTEGER NOT NULL, "
        "generation INTEGER NOT NULL DEFAULT 0, centroids BLOB, meta VARCHAR NOT NULL, "
        "created_at FLOAT NOT NULL)",
        "CREATE TABLE local_codes (file_id INTEGER NOT NULL REFERENCES files (id) "
        "ON DELETE CASCADE, codebook VARCHAR NOT NULL REFERENCES codebooks (fingerprint) "
        "ON DELETE CASCADE, generation INTEGER NOT NULL DEFAULT 0, features INTEGER NOT NULL, "
        "words BLOB NOT NULL, bits BLOB NOT NULL, fwords BLOB NOT NULL, kp BLOB NOT NULL, "
        "phash BIGINT, PRIMARY KEY (file_id, codebook))",
        "CREATE INDEX ix_local_codes_codebook_generation ON local_codes (codebook, generation)",
    ],
    # a folder whose symbolic links are followed wherever they lead (``index --follow-links``)
    2: ["ALTER TABLE folders ADD COLUMN follow_links BOOLEAN NOT NULL DEFAULT 0"],
    # a learned codebook's centroids (8 MB at 16,384 words) move out of the ``codebooks`` row,
    # which every commit of codes updates: SQLite rewrote the whole row, centroids included,
    # each time. The old column stays, emptied (dropping it would rebuild the table that
    # ``local_codes`` cascades from); a library made at schema 4 never had it.
    3: [
        "CREATE TABLE codebook_centroids (fingerprint VARCHAR NOT NULL PRIMARY KEY "
        "REFERENCES codebooks (fingerprint) ON DELETE CASCADE, centroids BLOB NOT NULL)",
        "INSERT INTO codebook_centroids (fingerprint, centroids) "
        "SELECT fingerprint, centroids FROM codebooks WHERE centroids IS NOT NULL",
        "UPDATE codebooks SET centroids = NULL WHERE centroids IS NOT NULL",
    ],
}

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
    # follow symbolic links that lead outside the indexed folders (off: they are skipped)
    Column("follow_links", Boolean, nullable=False, default=False, server_default="0"),
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


codebooks_t = Table(
    "codebooks",
    metadata,
    Column("fingerprint", String, primary_key=True),
    Column("words", Integer, nullable=False),
    # advanced by every change to this codebook's codes: a saved inverted file catches up
    Column("generation", Integer, nullable=False, default=0),
    Column("meta", String, nullable=False),
    Column("created_at", Float, nullable=False),
)
# a codebook learned from this library keeps its centroids here (no row: the shipped one)
codebook_centroids_t = Table(
    "codebook_centroids",
    metadata,
    Column(
        "fingerprint",
        String,
        ForeignKey("codebooks.fingerprint", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("centroids", LargeBinary, nullable=False),
)
local_codes_t = Table(
    "local_codes",
    metadata,
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "codebook",
        String,
        ForeignKey("codebooks.fingerprint", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("generation", Integer, nullable=False, default=0),
    Column("features", Integer, nullable=False),
    Column("words", LargeBinary, nullable=False),
    Column("bits", LargeBinary, nullable=False),
    Column("fwords", LargeBinary, nullable=False),
    Column("kp", LargeBinary, nullable=False),
    Column("phash", BigInteger),
    Index("ix_local_codes_codebook_generation", "codebook", "generation"),
)


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


@dataclass
class FileState:
    """A file as a folder scan saw it (what ``Store.add_files`` and friends write).

    ``error`` is set when the file cannot even be read; it is then stored as failed.
    """

    folder_id: int
    path: bytes
    size: int
    mtime_ns: int
    content_hash: str | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        return FAILED if self.error else NEW


T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------- generations


def advance_model(c: Connection, model_id: int) -> int:
    """Advance a model's generation inside transaction ``c``; returns the new value."""
    c.execute(
        update(models_t)
        .where(models_t.c.id == model_id)
        .values(generation=models_t.c.generation + 1)
    )
    return int(
        c.execute(select(models_t.c.generation).where(models_t.c.id == model_id)).scalar_one()
    )


def advance_all(c: Connection) -> None:
    """Advance every model's and codebook's generation inside ``c`` (files left or lost what
    was computed from them)."""
    c.execute(update(models_t).values(generation=models_t.c.generation + 1))
    c.execute(update(codebooks_t).values(generation=codebooks_t.c.generation + 1))


def drop_derived(c: Connection, file_ids: Sequence[int]) -> None:
    """Inside ``c``, delete what was computed from these files' pixels for every model and
    codebook (vectors and local codes) and advance every generation. Deleted files lose it by
    cascade."""
    file_ids = list(file_ids)
    c.execute(delete(vectors_t).where(vectors_t.c.file_id.in_(file_ids)))
    c.execute(delete(local_codes_t).where(local_codes_t.c.file_id.in_(file_ids)))
    advance_all(c)
