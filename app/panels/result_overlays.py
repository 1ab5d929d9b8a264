"""What other panels add to the search panel's results — heatmaps, outlines, "not found here"
marks and status lines — through its ``show_*`` slots. Mixed into the search panel, whose query
view, results and status line it uses."""

from __future__ import annotations

from PySide6.QtGui import QImage


class ResultOverlays:
    def restore_summary(self) -> None:
        """The status line shows the search's summary again (after a heatmap's progress)."""
        if self.last_result is not None and not self.search_task.busy() and self.summary:
            self.search_label.setText(self.summary)

    def set_status(self, text: str) -> None:
        self.search_label.setText(text)

    def set_heat_opacity(self, opacity: float | None) -> None:
        """Heatmaps shown at ``opacity``, or hidden (None)."""
        if opacity is None:
            self.query_view.set_heatmap(None)
        else:
            self.query_view.set_heatmap(self.query_view.heat, opacity)
        self.results_view.set_heat_opacity(opacity)

    def show_query_heat(self, heat: QImage) -> None:
        self.query_view.set_heatmap(heat)

    def show_result_heats(self, items: list[tuple[str, QImage]]) -> None:
        for path, heat in items:
            self.results.set_heat(path, heat)

    def clear_outlines(self) -> None:
        self.results.clear_outlines()

    def show_outlines(self, items: list[tuple[str, tuple]]) -> None:
        """``(path, (polygon, (W, H)))`` per result: the object's outline in its pixels."""
        for path, outline in items:
            self.results.set_outline(path, outline)

    def show_not_found(self, items: list[tuple[str, str]]) -> None:
        """``(path, reason)`` per result where the clicked object was not found."""
        for path, reason in items:
            self.results.set_not_found(path, reason)
