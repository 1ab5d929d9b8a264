"""The search panel: the query photo, a bar of tools, and the ranked results grid.

One search task: a new search cancels the previous one, whose results are then dropped. What
other panels add to the results (heatmaps, outlines) arrives through the ``show_*`` slots.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QImage
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.library import export_results

from ..models import ResultsModel
from ..photo_loader import PhotoLoader, photo_file_filter
from ..state import AppState
from ..thumbnails import ThumbnailCache
from ..views import QueryView
from ..workers import TaskSlot, Worker
from .results_grid import ResultsGrid

#: results per page; scrolling to the end asks for the next page
RESULTS_K = 200


def _open(path: str) -> None:
    QDesktopServices.openUrl(QUrl.fromLocalFile(path))


class SearchPanel(QWidget):
    search_started = Signal()
    search_finished = Signal(object)  # SearchResult, or None after an error
    photo_shown = Signal(str)  # the query view now shows this photo
    error = Signal(str, str)  # message, details

    def __init__(
        self, state: AppState, thumbnails: ThumbnailCache, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.search_task = TaskSlot(self)
        self.last_query: str | None = None
        self.last_box: tuple[float, float, float, float] | None = None
        self.last_result = None
        self.shown_path: str | None = None  # the photo in the query view (boxes are drawn on it)
        self.page_size = RESULTS_K
        self.k = RESULTS_K

        self.query_view = QueryView()
        self.query_view.box_drawn.connect(self._on_box)
        self.photo_loader = PhotoLoader(self)
        self.photo_loader.loaded.connect(self._on_photo)
        self.results = ResultsModel(thumbnails, self)
        self.results_view = ResultsGrid(self.results)
        self.results_view.open_requested.connect(_open)
        self.results_view.menu_requested.connect(
            lambda path, at: self.result_actions(path).popup(at)
        )
        self.results_view.near_end.connect(self.load_more)
        self.search_label = QLabel("")
        self.folder_filter = QComboBox()
        self.folder_filter.setAccessibleName("Show results from")
        self.folder_filter.addItem("All folders", None)
        self.folder_filter.currentIndexChanged.connect(self._refilter)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the ranked list as CSV or JSON")
        self.export_button.clicked.connect(self.choose_export)
        self.bar = QHBoxLayout()
        self.bar.addWidget(self.search_label, 1)
        self.bar.addWidget(QLabel("Show results from"))
        self.bar.addWidget(self.folder_filter)
        self.bar.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.query_view, 2)
        lay.addLayout(self.bar)
        lay.addWidget(self.results_view, 5)

    def add_tool(self, widget: QWidget) -> None:
        """Put another panel's controls in the bar, after the status text."""
        self.bar.insertWidget(self.bar.count() - 3, widget)

    # ---------------------------------------------------------------- queries

    def choose_query(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a query photo", "", photo_file_filter())
        if path:
            self.search(path)

    def paste_query(self) -> None:
        md = QGuiApplication.clipboard().mimeData()
        if md.hasUrls() and md.urls()[0].isLocalFile():
            self.search(md.urls()[0].toLocalFile())
        elif md.hasImage():
            img = QImage(md.imageData())
            tmp = Path(tempfile.mkdtemp(prefix="vs-paste-")) / "pasted.png"
            img.save(str(tmp))
            self.search(str(tmp))

    def search(self, path: str, box=None, keep_photo: bool = False, more: bool = False) -> None:
        """Search ``path`` (or its ``box``); ``more`` asks for the next page of the same query."""
        self.k = self.k + self.page_size if more else self.page_size
        self.last_query = path
        self.last_box = box
        self.search_started.emit()
        self.search_label.setText(f"searching {os.path.basename(path)}…")
        if not keep_photo:
            self.photo_loader.load(path)
        w = Worker(
            self.state.library.search,
            path,
            box=box,
            k=self.k,
            model=self.state.model_spec,
            folder=self.folder_filter.currentData(),
        )
        w.signals.result.connect(self._on_search)
        w.signals.error.connect(self._on_search_error)
        self.search_task.start(w)  # a new search cancels the previous one

    def cancel(self) -> None:
        if self.search_task.busy():
            self.search_task.cancel()
            self.search_label.setText("search cancelled")

    def load_more(self) -> bool:
        """Infinite scroll: fetch the next page when the current one was full."""
        res = self.last_result
        if res is None or len(res.hits) < self.k or self.search_task.busy():
            return False
        self.search(self.last_query, box=self.last_box, keep_photo=True, more=True)
        return True

    def _on_photo(self, path: str, pixmap, size: tuple[int, int]) -> None:
        self.query_view.set_photo(pixmap, size)
        self.shown_path = path
        self.photo_shown.emit(path)

    def _on_box(self, box) -> None:
        if self.shown_path:  # the box is in the coordinates of the photo on screen
            self.search(self.shown_path, box=box, keep_photo=True)

    def _refilter(self) -> None:
        if self.last_query:
            self.search(self.last_query)

    def _on_search(self, res) -> None:
        self.last_result = res
        bar = self.results_view.verticalScrollBar()
        keep = bar.value() if self.k > self.page_size else 0
        self.results.set_rows(res.hits)
        bar.setValue(keep)  # a further page keeps the place in the list
        self.search_label.setText(f"{len(res.hits)} results in {res.seconds * 1000:.0f} ms")
        self.search_finished.emit(res)

    def _on_search_error(self, message: str, details: str) -> None:
        self.search_label.setText("")
        self.error.emit(message, details)
        self.search_finished.emit(None)

    def set_folders(self, rows: list[dict]) -> None:
        """The library's folders, for the "Show results from" filter."""
        current = self.folder_filter.currentData()
        have = [self.folder_filter.itemData(i) for i in range(1, self.folder_filter.count())]
        if have == [r["path"] for r in rows]:
            return
        self.folder_filter.blockSignals(True)
        self.folder_filter.clear()
        self.folder_filter.addItem("All folders", None)
        for r in rows:
            self.folder_filter.addItem(os.path.basename(r["path"]) or r["path"], r["path"])
        self.folder_filter.setCurrentIndex(max(self.folder_filter.findData(current), 0))
        self.folder_filter.blockSignals(False)

    # ---------------------------------------------------------------- what explains the results

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
        """``(path, (box, (W, H)))`` per result: the object's box in that photo's pixels."""
        for path, outline in items:
            self.results.set_outline(path, outline)

    # ---------------------------------------------------------------- one result

    def result_actions(self, path: str) -> QMenu:
        """The right-click menu of a result (also used by tests to trigger the actions)."""
        menu = QMenu(self)
        menu.addAction("Find similar", lambda: self.search(path))
        menu.addAction("Open", lambda: _open(path))
        menu.addAction("Show in folder", lambda: _open(os.path.dirname(path)))
        menu.addAction("Copy path", lambda: QGuiApplication.clipboard().setText(path))
        menu.addAction("Compare with the query", lambda: self.compare(path))
        return menu

    def compare(self, path: str):
        from ..dialogs import CompareDialog

        if not self.last_query:
            return None
        score = next((h.score for h in self.results.hits if h.path == path), None)
        dlg = CompareDialog(
            self.last_query, path, f"similarity {score:.3f}" if score is not None else "", self
        )
        dlg.open()
        return dlg

    def choose_export(self) -> None:
        if self.last_result is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export results", "results.csv", "CSV (*.csv);;JSON (*.json)"
        )
        if path:
            self.export(path)

    def export(self, path: str) -> None:
        try:
            export_results(self.last_result, path)
        except OSError as e:
            self.error.emit(f"{path}: cannot write ({e.strerror or e})", "")

    def shutdown(self) -> None:
        self.search_task.wait()
        self.photo_loader.wait()
