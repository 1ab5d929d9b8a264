"""The search panel: the query photo, a bar of tools, and the ranked results grid.

One search task: a new search cancels the previous one, whose results are then dropped. What
other panels add to the results (heatmaps, outlines) arrives through the ``show_*`` slots.
"""

from __future__ import annotations

import os
import tempfile
from functools import partial
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
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from engine.library import export_results

from ..models import OTHERS_SHOWN, ResultsModel, evidence_text, no_match_text
from ..photo_loader import PhotoLoader, photo_file_filter
from ..state import AppState
from ..thumbnails import ThumbnailCache
from ..views import QueryView
from ..workers import TaskSlot, Worker
from .results_grid import ResultsGrid

#: results asked of the engine (the export writes them all; the grid shows the verified ones
#: and a handful of the others)
RESULTS_K = 200
#: results checked geometrically per page; scrolling to the end asks for the next page when
#: every one checked was verified (more matches may follow)
VERIFY_PAGE = 50


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
        self.page_size = VERIFY_PAGE
        self.verify = VERIFY_PAGE
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
        self.search_label.setAccessibleName("Search status")
        # a line of its own below the tools: a long status never widens the window
        self.search_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.empty_state = QLabel("")  # "No match: …" when nothing was verified
        self.empty_state.setAccessibleName("No match")
        self.empty_state.setWordWrap(True)
        self.empty_state.setStyleSheet("font-size: 14px; padding: 8px;")
        self.empty_state.hide()
        self.folder_filter = QComboBox()
        self.folder_filter.setAccessibleName("Show results from")
        self.folder_filter.addItem("All folders", None)
        self.folder_filter.currentIndexChanged.connect(self._refilter)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the ranked list as CSV or JSON")
        self.export_button.clicked.connect(self.choose_export)
        self.bar = QHBoxLayout()
        self.bar.addStretch(1)
        self.bar.addWidget(QLabel("Show results from"))
        self.bar.addWidget(self.folder_filter)
        self.bar.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.query_view, 2)
        lay.addLayout(self.bar)
        lay.addWidget(self.search_label)
        lay.addWidget(self.empty_state)
        lay.addWidget(self.results_view, 5)

    def add_tool(self, widget: QWidget) -> None:
        """Put another panel's controls in the bar, before the folder filter."""
        self.bar.insertWidget(self.bar.count() - 4, widget)

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
        """Search ``path`` (or its ``box``); ``more`` checks the next page of the same query."""
        self.verify = self.verify + self.page_size if more else self.page_size
        self.k = max(RESULTS_K, self.verify + OTHERS_SHOWN)
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
            verify=self.verify,
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
        """Infinite scroll: check the next page when every photo checked was verified (more
        matches may follow); the unverified others stay a handful."""
        res = self.last_result
        if res is None or self.search_task.busy():
            return False
        if res.pipeline == "global":
            if len(res.hits) < self.k:
                return False
        elif res.matches < self.verify or res.matches == len(res.hits):
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
        keep = bar.value() if self.verify > self.page_size else 0
        self.results.set_result(res)
        bar.setValue(keep)  # a further page keeps the place in the list
        others = len(self.results.hits) - res.matches
        ms = f"in {res.seconds * 1000:.0f} ms"
        if res.pipeline == "global":
            text = f"{len(res.hits)} results {ms}"
        elif res.no_match:
            text = f"no match ({others} similar photos) {ms}"
        else:
            n = res.matches
            text = f"{n} verified match{'es' if n != 1 else ''} ({others} other similar) {ms}"
        self.search_label.setText(text)
        self.empty_state.setText(no_match_text(others) if res.no_match else "")
        self.empty_state.setVisible(res.no_match)
        self.search_finished.emit(res)

    def _on_search_error(self, message: str, details: str) -> None:
        self.search_label.setText("")
        self.empty_state.hide()
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
        """``(path, (polygon, (W, H)))`` per result: the object's outline in its pixels."""
        for path, outline in items:
            self.results.set_outline(path, outline)

    def show_not_found(self, items: list[tuple[str, str]]) -> None:
        """``(path, reason)`` per result where the clicked object was not found."""
        for path, reason in items:
            self.results.set_not_found(path, reason)

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
        hit = self.results.hit(path)
        caption, evidence = "", None
        if hit is not None:
            caption = f"score {hit.score:.3f} · {evidence_text(hit) or 'not verified'}"
            evidence = partial(  # runs on the dialog's worker
                self.state.library.evidence,
                self.last_query,
                hit.file_id,
                box=self.last_box,
                model=self.state.model_spec,
            )
        dlg = CompareDialog(self.last_query, path, caption, self, evidence)
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
