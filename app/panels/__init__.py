"""The main window's panels, one file each; the window creates them and connects their signals."""

from app.panels.downloads import DownloadsPanel
from app.panels.duplicates import DuplicatesView
from app.panels.explain_controls import ExplainControls
from app.panels.library_panel import LibraryPanel
from app.panels.search_panel import SearchPanel

__all__ = ["DownloadsPanel", "DuplicatesView", "ExplainControls", "LibraryPanel", "SearchPanel"]
