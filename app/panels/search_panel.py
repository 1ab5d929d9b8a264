"""The search panel: the query photo, a bar of tools, and the ranked results grid.

One search task: a new search cancels the previous one, whose results are then dropped. What
other panels add to the results (heatmaps, outlines) arrives through the ``show_*`` slots of
its ``overlays``.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QThreadPool, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.models import NO_PHOTOS_TEXT, ResultsModel, no_match_text
from app.panels.folder_filter import FolderFilter
from app.panels.query_input import clipboard_query, describe_query, unsearchable
from app.panels.result_actions import ResultActions, Searched
from app.panels.result_overlays import ResultOverlays
from app.panels.results_grid import ResultsGrid
from app.panels.welcome import Welcome
from app.photo_loader import PhotoLoader, photo_file_filter
from app.state import AppState
from app.thumbnails import ThumbnailCache
from app.views import QueryView
from app.workers import TaskSlot, Worker
from engine.library import OTHERS_SHOWN

#: results asked of the engine (the export writes them all; the grid shows the verified ones
#: and a handful of the others)
RESULTS_K = 200
#: results checked geometrically per page; scrolling to the end asks for the next page when
#: every one checked was verified (more matches may follow)
VERIFY_PAGE = 50

#: queries the Back action can return to
HISTORY = 50
#: what a search says while the library's only photos are still being indexed
STILL_INDEXING_TEXT = "Your photos are still being indexed: search again when it has finished"


class SearchPanel(QWidget):
    """The query, the tools and the results. What the user does with a result belongs to
    ``result_actions``; what other panels draw over the results, to ``overlays``."""

    search_started = Signal()
    search_finished = Signal(object)  # SearchResult, or None after an error
    photo_shown = Signal(str)  # the query view now shows this photo
    history_changed = Signal(bool)  # whether Back can return to an earlier query
    result_available = Signal(bool)  # whether there are results to act on (export, heatmaps)
    error = Signal(str, str)  # message, details

    def __init__(
        self, state: AppState, thumbnails: ThumbnailCache, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.search_task = TaskSlot(self)
        # a pool of its own: the query's decoding and the search never queue behind it (the
        # global pool has a thread per core), and the query's description runs beside the load
        self.warm_task = TaskSlot(self, QThreadPool(self))
        self.last_query: str | None = None
        self.last_box: tuple[float, float, float, float] | None = None
        self.last_result = None
        self.shown_path: str | None = None  # the photo in the query view (boxes are drawn on it)
        self.summary = ""  # the last search's status line (a heatmap's progress replaces it)
        self.page_size = VERIFY_PAGE
        self.verify = VERIFY_PAGE
        self.k = RESULTS_K
        #: earlier queries, newest last: (path, box, folder)
        self.history: list[tuple[str, object, object]] = []

        self.welcome = Welcome()
        self._make_query(thumbnails)
        self._make_status()
        self._make_bar()
        self.overlays = ResultOverlays(self.query_view, self.results, self.results_view)
        self.result_actions = ResultActions(state, self.results, self.searched, self)
        self._connect()
        self._lay_out()

    def _make_query(self, thumbnails: ThumbnailCache) -> None:
        """The query's line, its photo, and the results grid."""
        self.query_label = QLabel("")
        self.query_label.setAccessibleName("Query")
        self.query_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.whole_button = QPushButton("Search the whole photo")
        self.whole_button.setToolTip("Clear the box and search the whole query photo")
        self.whole_button.hide()
        self.query_view = QueryView()
        self.photo_loader = PhotoLoader(self)
        self.results = ResultsModel(thumbnails, self)
        self.results_view = ResultsGrid(self.results)

    def _make_status(self) -> None:
        """The search's status line and its "No match" empty state."""
        self.search_label = QLabel("")
        self.search_label.setAccessibleName("Search status")
        # a line of its own below the tools: a long status never widens the window
        self.search_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.empty_state = QLabel("")  # "No match: …" when nothing was verified
        self.empty_state.setAccessibleName("No match")
        self.empty_state.setWordWrap(True)
        self.empty_state.setStyleSheet("font-size: 14px; padding: 8px;")
        self.empty_state.hide()

    def _make_bar(self) -> None:
        """The bar of tools: other panels' (``add_tool``), the folder filter and Export."""
        self.folder_filter = FolderFilter()
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the ranked list as CSV or JSON")
        self.export_button.setEnabled(False)
        self.bar = QHBoxLayout()
        self.bar.addStretch(1)
        self.bar.addWidget(self.folder_filter)
        self.bar.addWidget(self.export_button)

    def _connect(self) -> None:
        self.whole_button.clicked.connect(self.clear_box)
        self.query_view.box_drawn.connect(self._on_box)
        self.photo_loader.loaded.connect(self._on_photo)
        self.photo_loader.failed.connect(self._on_photo_failed)
        self.results_view.open_requested.connect(self.result_actions.open_file)
        self.results_view.menu_requested.connect(
            lambda path, at: self.result_actions.menu(path).popup(at)
        )
        self.results_view.near_end.connect(self.load_more)
        self.folder_filter.currentIndexChanged.connect(self._refilter)
        self.export_button.clicked.connect(self.result_actions.choose_export)
        self.result_actions.find_similar.connect(self.search)
        self.result_actions.status.connect(self.search_label.setText)
        self.result_actions.error.connect(self.error)

    def _lay_out(self) -> None:
        """The welcome page, or the query over the bar, the status and the results."""
        top = QHBoxLayout()
        top.addWidget(self.query_label, 1)
        top.addWidget(self.whole_button)
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.query_view, 2)
        lay.addLayout(self.bar)
        lay.addWidget(self.search_label)
        lay.addWidget(self.empty_state)
        lay.addWidget(self.results_view, 5)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(page)
        QVBoxLayout(self).addWidget(self.pages)
        self.layout().setContentsMargins(0, 0, 0, 0)

    def searched(self) -> Searched:
        """The search the results are of: what ``result_actions`` act on."""
        return Searched(self.last_query, self.last_box, self.last_result)

    def add_tool(self, widget: QWidget) -> None:
        """Put another panel's controls in the bar, before the folder filter."""
        self.bar.insertWidget(self.bar.count() - 3, widget)

    # ---------------------------------------------------------------- queries

    def choose_query(self) -> None:
        settings = self.state.settings
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a query photo", settings.start_folder(), photo_file_filter()
        )
        if path:
            settings.remember_folder(path)
            self.search(path)

    def paste_query(self) -> bool:
        """Search what the clipboard holds: a copied file, an image, or a path or ``file://``
        URL as text (``query_input``). What cannot be searched is answered in one line."""
        path, why = clipboard_query(QGuiApplication.clipboard().mimeData())
        if path is None:
            self.say(why)
            return False
        self.search(path)
        return True

    def say(self, text: str) -> None:
        """One line where the user looks: the welcome page's notice, or the status line."""
        if self.pages.currentIndex() == 0:
            self.welcome.show_notice(text)
        else:
            self.search_label.setText(text)

    def search(self, path: str, box=None, keep_photo: bool = False, more: bool = False) -> None:
        """Search ``path`` (or its ``box``); ``more`` checks the next page of the same query.
        A path that cannot be read is answered in one line, and the results stay."""
        if why := unsearchable(path):
            return self.say(why)
        self.verify = self.verify + self.page_size if more else self.page_size
        self.k = max(RESULTS_K, self.verify + OTHERS_SHOWN)
        if not more and self.last_result is not None:
            here = (self.last_query, self.last_box, self.folder_filter.folder())
            if (path, box) != here[:2] and (not self.history or self.history[-1] != here):
                self.history = [*self.history, here][-HISTORY:]
                self.history_changed.emit(True)
        self.last_query = path
        self.last_box = box
        self.last_result = None
        self.result_available.emit(False)
        self.export_button.setEnabled(False)
        self.pages.setCurrentIndex(1)
        self.welcome.show_notice("")
        self.query_label.setText(describe_query(path, box))
        self.query_label.setToolTip(path)
        self.whole_button.setVisible(box is not None)
        if path == self.shown_path:
            self.query_view.set_box(box)  # a new photo shows its box once it is loaded
        self.search_started.emit()
        self.search_label.setText(f"searching {os.path.basename(path)}…")
        if not keep_photo:
            self.photo_loader.load(path)
        library = self.state.library
        kwargs = {
            "box": box,
            "k": self.k,
            "verify": self.verify,
            "model": self.state.model_spec,
            "folder": self.folder_filter.folder(),
        }

        def run():
            res = library.search(path, **kwargs)
            # nothing found at all: say whether the library has photos to search
            files = None if res.hits else library.status()["files"]
            return res, files

        w = Worker(run)
        w.signals.result.connect(self._on_search)
        w.signals.error.connect(self._on_search_error)
        self.search_task.start(w)  # a new search cancels the previous one

    def warm_up(self) -> None:
        """Load, on a worker, what the first search needs — the library's indexes, its
        codebook and the model — while the user picks a photo; the first search then waits at
        most for what is still loading (the engine's locks), never loads it twice. Best effort:
        a failure here shows up, with its message, when a search meets it."""
        library, spec = self.state.library, self.state.model_spec

        def warm() -> None:
            library.vector_index(library.model_row(spec))
            library.local_index()
            library.model(spec)

        w = Worker(warm)
        w.signals.error.connect(lambda _m, _d: None)
        self.warm_task.start(w)

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

    def back(self) -> bool:
        """Return to the previous query, its region and its folder filter."""
        if not self.history:
            return False
        path, box, folder = self.history.pop()
        self.history_changed.emit(bool(self.history))
        self.last_result = None  # the query left is not pushed again
        self.folder_filter.select(folder)
        self.search(path, box=box, keep_photo=path == self.shown_path)
        return True

    def clear_box(self) -> None:
        """Search the whole query photo again, without its box."""
        if self.last_query:
            self.search(self.last_query, keep_photo=self.last_query == self.shown_path)

    def _on_photo_failed(self, path: str, _reason: str) -> None:
        """The query cannot be shown: no earlier photo stays under its name."""
        if path == self.last_query:
            self.query_view.set_photo(None)
            self.shown_path = None

    def _on_photo(self, path: str, pixmap, size: tuple[int, int]) -> None:
        self.query_view.set_photo(pixmap, size)
        self.shown_path = path
        if path == self.last_query and self.last_box is not None:
            self.query_view.set_box(self.last_box)
        self.photo_shown.emit(path)

    def _on_box(self, box) -> None:
        if self.shown_path:  # the box is in the coordinates of the photo on screen
            self.search(self.shown_path, box=box, keep_photo=True)

    def _refilter(self) -> None:
        if self.last_query and self.last_result is not None:  # not a query that failed
            self.search(self.last_query, box=self.last_box, keep_photo=True)

    def _on_search(self, out) -> None:
        res, files = out
        if files is not None and not files["indexed"]:
            self._nothing_to_search(res, files)
            return
        if res.too_little_detail:
            self._too_little_detail(res)
            return
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
        folder = self.folder_filter.folder_name()
        if folder is not None:
            text += f" · only from {folder}"
        if res.missing_vectors:  # the model's ranking cannot see them until they are indexed
            text += f" · {res.missing_vectors} photos not yet described by this model"
        self.summary = text
        self.search_label.setText(text)
        self.export_button.setEnabled(True)
        self.result_available.emit(True)
        nothing = no_match_text(others, folder, res.excluded_self) if res.no_match else ""
        self.empty_state.setText(nothing)
        self.empty_state.setVisible(res.no_match)
        self.search_finished.emit(res)

    def _too_little_detail(self, res) -> None:
        """A featureless query (a flat colour, a blank region): nothing listed, and why."""
        self.last_result, self.summary = res, res.message
        self.results.set_rows([])
        self.search_label.setText(res.message)
        self.empty_state.setText(f"{res.message.capitalize()}: choose one with more to see.")
        self.empty_state.show()
        self.result_available.emit(False)
        self.search_finished.emit(res)

    def _nothing_to_search(self, res, files: dict) -> None:
        """The library has no indexed photo: say so, on the page with the buttons to add some,
        rather than "no match"."""
        text = STILL_INDEXING_TEXT if files.get("pending") else NO_PHOTOS_TEXT
        self.summary = text
        self.results.set_rows([])
        self.empty_state.hide()
        self.search_label.setText(text)
        self.welcome.show_notice(text)
        self.pages.setCurrentIndex(0)
        self.search_finished.emit(res)

    def _on_search_error(self, message: str, details: str) -> None:
        self.summary = ""
        name = os.path.basename(self.last_query or "")
        if name and name not in message:
            message = f"{name}: {message}"
        self.search_label.setText(f"search failed: {message}")
        self.empty_state.hide()
        self.results.set_rows([])
        self.error.emit(message, details)
        self.search_finished.emit(None)

    def restore_summary(self) -> None:
        """The status line shows the search's summary again (after a heatmap's progress)."""
        if self.last_result is not None and not self.search_task.busy() and self.summary:
            self.search_label.setText(self.summary)

    def set_status(self, text: str) -> None:
        self.search_label.setText(text)

    def shutdown(self) -> None:
        self.search_task.wait()
        self.warm_task.wait()
        self.photo_loader.wait()
