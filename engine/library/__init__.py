"""A photo library: folders indexed into SQLite (source of truth) plus caches beside it — the
public API the command line and the window use (``Library``, what a search returns, and
improving the model from the library's photos)."""

from __future__ import annotations

from engine.lazy import attach

#: public name → the module that defines it (imported on first use, so importing this package
#: loads neither FAISS, SQLAlchemy nor torch)
_SOURCES = {
    "APPROX_THRESHOLD": "engine.library.index.vector_index",
    "INDEX_KINDS": "engine.library.index.vector_index",
    "DuplicateGroup": "engine.library.query.duplicates",
    "Hit": "engine.library.query.results",
    "IndexSummary": "engine.library.index.indexer",
    "Library": "engine.library.library",
    "LibraryBusyError": "engine.library.store.lock",
    "Location": "engine.match.localize",
    "NotEnoughPairs": "engine.library.improve.mining",
    "OTHERS_SHOWN": "engine.library.query.results",
    "Changes": "engine.library.index.changes",
    "SearchResult": "engine.library.query.results",
    "TOO_LITTLE_DETAIL_TEXT": "engine.library.query.results",
    "VisualSearchError": "engine.errors",
    "ensure_not_busy": "engine.library.store.lock",
    "export_results": "engine.library.query.results",
    "hnsw_unavailable": "engine.library.index.vector_index",
    "import_engine": "engine.library.preload",
    "improve_model": "engine.library.improve.training",
    "library_config": "engine.library.improve.training",
    "mine": "engine.library.improve.mining",
    "require_enough": "engine.library.improve.mining",
    "starting_config": "engine.library.improve.training",
}

__all__ = sorted(_SOURCES)

__getattr__, __dir__ = attach(__name__, _SOURCES)
