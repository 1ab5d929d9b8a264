"""The library's source of truth: one SQLite database (``Store``) made of parts that own their
rows — files, models, vectors, local-feature codes — plus its schema, lock and errors."""

from engine.lazy import attach

#: public name → the module that defines it (imported on first use: a light submodule such as
#: ``fspath`` loads no SQLAlchemy)
_SOURCES = {
    "FAILED": "engine.library.store.schema",
    "NEW": "engine.library.store.schema",
    "OK": "engine.library.store.schema",
    "FileRow": "engine.library.store.schema",
    "FileState": "engine.library.store.schema",
    "LibraryError": "engine.library.store.errors",
    "ModelRow": "engine.library.store.schema",
    "Store": "engine.library.store.store",
    "fs_bytes": "engine.library.store.fspath",
    "fs_text": "engine.library.store.fspath",
    "open_store": "engine.library.store.store",
}

__all__ = sorted(_SOURCES)

__getattr__, __dir__ = attach(__name__, _SOURCES)
