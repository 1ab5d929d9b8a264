"""A photo library: folders indexed into SQLite (source of truth) plus a FAISS index (cache).

``Library`` (``library.py``) is what the CLI and the GUI use; ``results.py`` holds what a
search returns. Names are imported on first use (napari's lazy ``__getattr__``), so importing
a light submodule such as ``engine.library.scan`` loads neither FAISS, SQLAlchemy nor torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import attach

if TYPE_CHECKING:
    from ..errors import VisualSearchError
    from .indexer import IndexSummary
    from .library import Library
    from .lock import LibraryBusyError, ensure_not_busy
    from .preload import import_engine
    from .results import Hit, SearchResult, export_results

#: public name → the module that defines it
_SOURCES = {
    "Hit": ".results",
    "SearchResult": ".results",
    "export_results": ".results",
    "Library": ".library",
    "ensure_not_busy": ".lock",
    "LibraryBusyError": ".lock",
    "IndexSummary": ".indexer",
    "import_engine": ".preload",
    "VisualSearchError": "..errors",
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
