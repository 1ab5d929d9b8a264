"""The library's source of truth: SQLite through SQLAlchemy Core.

``Store`` is made of parts that each own one kind of row and run its SQL: ``files`` (folders
and files), ``models`` (models and their generations), ``vectors`` (per-model descriptors) and
``codes`` (codebooks and local-feature codes), over one ``Database`` (connections, schema,
writer lock). Tables and row types are in ``schema.py``, with the three functions that advance
generations; nothing outside this package runs SQL.
"""

from __future__ import annotations

import os

from sqlalchemy import func, select
from sqlalchemy.exc import DatabaseError

from engine.library.store.codes import CodeTable
from engine.library.store.database import Database
from engine.library.store.errors import LibraryError
from engine.library.store.files import FileTable
from engine.library.store.lock import WriterLock
from engine.library.store.models import ModelTable
from engine.library.store.schema import files_t, vectors_t
from engine.library.store.vectors import VectorTable


class Store:
    """A library database and its parts. Thread-safe for reads; one writer process at a time
    (``writer_lock``). ``mode``: ``create``, ``write`` or ``read`` (see ``database.MODES``)."""

    def __init__(self, directory: str | os.PathLike, mode: str = "create") -> None:
        self.db = Database(directory, mode)
        self.files = FileTable(self.db)
        self.models = ModelTable(self.db)
        self.vectors = VectorTable(self.db)
        self.codes = CodeTable(self.db)

    @property
    def dir(self):
        return self.db.dir

    @property
    def db_path(self):
        return self.db.path

    @property
    def read_only(self) -> bool:
        return self.db.read_only

    @property
    def read_only_reason(self) -> str | None:
        return self.db.read_only_reason

    def writer_lock(self) -> WriterLock:
        return self.db.writer_lock()

    def close(self) -> None:
        self.db.close()

    def counts(self) -> dict:
        """Files by status, per folder and status, and vectors per model id."""
        with self.db.connect() as c:
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
