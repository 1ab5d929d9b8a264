"""A photo library: folders indexed into SQLite (source of truth) plus a FAISS index (cache).

``Library`` (``library.py``) is what the CLI and the GUI use; ``results.py`` holds what a
search returns. Names are imported on first use (napari's lazy ``__getattr__``), so importing
a light submodule such as ``engine.library.index.scan`` loads neither FAISS, SQLAlchemy nor torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy import attach

if TYPE_CHECKING:
    from engine.errors import VisualSearchError
    from engine.library.index.indexer import IndexSummary
    from engine.library.library import Library
    from engine.library.preload import import_engine
    from engine.library.query.results import Hit, SearchResult, export_results
    from engine.library.store.lock import LibraryBusyError, ensure_not_busy

#: public name → the module that defines it
_SOURCES = {
    "Hit": "engine.library.query.results",
    "SearchResult": "engine.library.query.results",
    "export_results": "engine.library.query.results",
    "Library": "engine.library.library",
    "ensure_not_busy": "engine.library.store.lock",
    "LibraryBusyError": "engine.library.store.lock",
    "IndexSummary": "engine.library.index.indexer",
    "import_engine": "engine.library.preload",
    "VisualSearchError": "engine.errors",
}

__all__ = [
    "Hit",
    "IndexSummary",
    "Library",
    "LibraryBusyError",
    "SearchResult",
    "VisualSearchError",
    "ensure_not_busy",
    "export_results",
    "import_engine",
]


__getattr__, __dir__ = attach(__name__, _SOURCES)
