"""The library's source of truth: one SQLite database (``Store``) made of parts that own their
rows — files, models, vectors, local-feature codes — plus its schema, lock and repair."""

from engine.library.store.errors import LibraryError
from engine.library.store.fspath import fs_bytes, fs_text
from engine.library.store.schema import FAILED, NEW, OK, FileRow, FileState, ModelRow
from engine.library.store.store import Store, open_store

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
