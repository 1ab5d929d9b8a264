"""The main window's panels, one file each; the window creates them and connects their signals."""

from .downloads import DownloadsPanel
from .duplicates import DuplicatesView
from .explain_controls import ExplainControls
from .library_panel import LibraryPanel
from .search_panel import SearchPanel

__all__ = ["DownloadsPanel", "DuplicatesView", "ExplainControls", "LibraryPanel", "SearchPanel"]
