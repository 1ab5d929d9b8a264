"""What other panels add to the search panel's results — heatmaps, outlines with their
confidence and "not found in this photo" marks — drawn on the parts it is given: the query view,
the results model and their grid. The search panel owns one (``SearchPanel.overlays``); the
window connects the explain controls to it.
"""

from __future__ import annotations

from PySide6.QtGui import QImage

from app.models import ResultsModel
from app.panels.results_grid import ResultsGrid
from app.views import QueryView


class ResultOverlays:
    """Heatmaps over the query and the results, and the clicked object's outlines in them."""

    def __init__(self, query_view: QueryView, results: ResultsModel, grid: ResultsGrid) -> None:
        self.query_view = query_view
        self.results = results
        self.grid = grid

    def set_heat_opacity(self, opacity: float | None) -> None:
        """Heatmaps shown at ``opacity``, or hidden (None)."""
        if opacity is None:
            self.query_view.set_heatmap(None)
        else:
            self.query_view.set_heatmap(self.query_view.heat, opacity)
        self.grid.set_heat_opacity(opacity)

    def show_query_heat(self, heat: QImage | None) -> None:
        self.query_view.set_heatmap(heat)

    def show_result_heats(self, items: list[tuple[str, QImage | None]]) -> None:
        for path, heat in items:
            self.results.set_heat(path, heat)

    def clear_outlines(self) -> None:
        self.results.clear_outlines()

    def restore_outlines(self) -> None:
        """The search's own outlines (a click that could not be used leaves them)."""
        self.results.restore_search_outlines()

    def show_outlines(self, items: list[tuple[str, tuple]]) -> None:
        """``(path, (polygon, (W, H)))`` per result: the object's outline in its pixels."""
        for path, outline in items:
            self.results.set_outline(path, outline)

    def show_outline_notes(self, items: list[tuple[str, str]]) -> None:
        """``(path, "outline 0.82")`` per result where the clicked object was outlined."""
        for path, note in items:
            self.results.set_outline_note(path, note)

    def show_not_found(self, items: list[tuple[str, str]]) -> None:
        """``(path, reason)`` per result where the clicked object was not found."""
        for path, reason in items:
            self.results.set_not_found(path, reason)
