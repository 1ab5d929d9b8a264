"""The main window: library folders on the left, query and ranked results on the right.

All engine work runs on worker threads (``app.workers``); this module only wires widgets to
engine calls and engine results to thin Qt models.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from engine.library import Library, export_results
from engine.paths import cache_dir
from resources import resource_path

from .models import FoldersModel, PathRole, ResultsModel
from .thumbnails import ThumbnailCache
from .views import QueryView, ResultDelegate, rgba_to_qimage
from .workers import TaskSlot, Worker

#: results that get outlines / heatmaps after a click or the heatmap toggle
EXPLAIN_TOP = 24

RESULTS_K = 200


class MainWindow(QMainWindow):
    indexing_finished = Signal(object)  # IndexSummary or None after an error
    search_finished = Signal(object)  # SearchResult or None after an error
    error_shown = Signal(str)
    outlines_finished = Signal(object)  # list of (path, Localization or error message)
    heatmaps_finished = Signal()
    duplicates_shown = Signal(object)
    weights_downloaded = Signal(str)

    def __init__(self, library: Library, model: str | None = None, settings=None) -> None:
        from .settings import Settings

        super().__init__()
        self.library = library
        self.settings = settings or Settings()
        self.model_spec = model or (
            self.settings.model if self.settings.model != "default" else None
        )
        self.setWindowTitle("visual-search")
        self.setAcceptDrops(True)
        self.thumbnails = ThumbnailCache(160, disk_dir=str(cache_dir() / "thumbnails"))
        self.index_task = TaskSlot(self)
        self.search_task = TaskSlot(self)
        self.folder_task = TaskSlot(self)
        self.explain_task = TaskSlot(self)
        self._localizer = None
        self.last_query: str | None = None
        self.last_result = None
        self.last_box = None
        self.page_size = RESULTS_K
        self.k = RESULTS_K
        self._build()
        self.refresh_folders()

    # ---------------------------------------------------------------- layout

    def _build(self) -> None:
        self.folders = FoldersModel(self)
        self.folder_view = QTableView()
        self.folder_view.setModel(self.folders)
        self.folder_view.setAccessibleName("Library folders")
        self.folder_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.folder_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.add_button = QPushButton("Add folder…")
        self.rescan_button = QPushButton("Re-scan")
        self.remove_button = QPushButton("Remove")
        self.errors_button = QPushButton("Failed files…")
        self.duplicates_button = QPushButton("Duplicates…")
        self.duplicates_button.setToolTip("Groups of near-duplicate photos")
        self.duplicates_button.clicked.connect(lambda: self.show_duplicates())
        self.train_button = QPushButton("Train a model…")
        self.train_button.clicked.connect(lambda: self.open_wizard())
        self.weights_button = QPushButton("ImageNet weights…")
        self.weights_button.setToolTip(
            "Download the ImageNet-pretrained ResNet-50 backbone "
            "(about 100 MB, checked against its checksum)"
        )
        self.weights_button.clicked.connect(lambda: self.download_weights())
        self.settings_button = QPushButton("Settings…")
        self.settings_button.clicked.connect(self.open_settings)
        for b, tip in (
            (self.add_button, "Index a photo folder"),
            (self.rescan_button, "Index what changed in every folder"),
            (self.remove_button, "Forget the selected folder (files stay on disk)"),
            (self.errors_button, "Photos that could not be indexed, with reasons"),
        ):
            b.setToolTip(tip)
            b.setAccessibleName(b.text().rstrip("…"))
        self.add_button.clicked.connect(self.choose_folder)
        self.rescan_button.clicked.connect(self.rescan)
        self.remove_button.clicked.connect(self.remove_selected_folder)
        self.errors_button.clicked.connect(self.show_errors)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Indexing progress")
        self.progress_label = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel indexing")
        self.cancel_button.clicked.connect(self.cancel_indexing)
        self._set_indexing(False)

        left = QVBoxLayout()
        left.addWidget(QLabel("Library"))
        left.addWidget(self.folder_view)
        for group in (
            (self.add_button, self.rescan_button, self.remove_button, self.weights_button),
            (self.errors_button, self.duplicates_button, self.train_button, self.settings_button),
        ):
            buttons = QHBoxLayout()
            for b in group:
                buttons.addWidget(b)
            left.addLayout(buttons)
        left.addWidget(self.progress)
        row = QHBoxLayout()
        row.addWidget(self.progress_label, 1)
        row.addWidget(self.cancel_button)
        left.addLayout(row)
        left_w = QWidget()
        left_w.setLayout(left)

        self.query_view = QueryView()
        self.query_view.box_drawn.connect(self._on_box)
        self.query_view.point_clicked.connect(self.outline_click)
        self.heat_toggle = QCheckBox("Heatmap")
        self.heat_toggle.setAccessibleName("Show attention heatmaps")
        self.heat_toggle.setToolTip("Where the model looked (Ctrl+H)")
        self.heat_toggle.toggled.connect(self._heat_toggled)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setAccessibleName("Heatmap opacity")
        self.opacity.valueChanged.connect(self._opacity_changed)
        self.results = ResultsModel(self.thumbnails, self)
        self.results_view = QListView()
        self.results_view.setModel(self.results)
        self.results_view.setViewMode(QListView.ViewMode.IconMode)
        self.results_view.setResizeMode(QListView.ResizeMode.Adjust)
        self.results_view.setUniformItemSizes(True)  # virtualised: only visible rows are asked
        self.results_view.setLayoutMode(QListView.LayoutMode.Batched)
        self.results_view.setIconSize(QSize(160, 120))
        self.results_view.setGridSize(QSize(180, 170))
        self.results_view.setMovement(QListView.Movement.Static)
        self.results_view.setItemDelegate(ResultDelegate(self._heat_opacity, self.results_view))
        self.results_view.setAccessibleName("Search results")
        self.results_view.doubleClicked.connect(self._open_result)
        self.results_view.verticalScrollBar().valueChanged.connect(self._maybe_load_more)
        self.results_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.results_view.customContextMenuRequested.connect(self._result_menu)
        self.search_label = QLabel("")
        self.folder_filter = QComboBox()
        self.folder_filter.setAccessibleName("Show results from")
        self.folder_filter.addItem("All folders", None)
        self.folder_filter.currentIndexChanged.connect(self._refilter)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the ranked list as CSV or JSON")
        self.export_button.clicked.connect(self.choose_export)
        bar = QHBoxLayout()
        bar.addWidget(self.search_label, 1)
        bar.addWidget(self.heat_toggle)
        bar.addWidget(self.opacity)
        bar.addWidget(QLabel("Show results from"))
        bar.addWidget(self.folder_filter)
        bar.addWidget(self.export_button)
        right = QVBoxLayout()
        right.addWidget(self.query_view, 2)
        right.addLayout(bar)
        right.addWidget(self.results_view, 5)
        right_w = QWidget()
        right_w.setLayout(right)

        split = QSplitter()
        split.addWidget(left_w)
        split.addWidget(right_w)
        split.setStretchFactor(1, 3)
        self.setCentralWidget(split)
        self.resize(1200, 800)

        for text, key, slot in (
            ("Open query photo…", QKeySequence.StandardKey.Open, self.choose_query),
            ("Paste query photo", QKeySequence.StandardKey.Paste, self.paste_query),
            ("Cancel", QKeySequence(Qt.Key.Key_Escape), self.cancel_all),
            ("Focus results", QKeySequence.StandardKey.Find, self.results_view.setFocus),
            ("Toggle heatmap", QKeySequence("Ctrl+H"), self.heat_toggle.toggle),
        ):
            act = QAction(text, self)
            act.setShortcut(key)
            act.triggered.connect(slot)
            self.addAction(act)

    # ---------------------------------------------------------------- library

    def refresh_folders(self) -> None:
        w = Worker(lambda: self.library.status()["folders"])
        w.signals.result.connect(self._set_folders)
        self.folder_task.start(w)

    def _set_folders(self, rows: list[dict]) -> None:
        self.folders.set_rows(rows)
        current = self.folder_filter.currentData()
        have = [self.folder_filter.itemData(i) for i in range(1, self.folder_filter.count())]
        if have != [r["path"] for r in rows]:
            self.folder_filter.blockSignals(True)
            self.folder_filter.clear()
            self.folder_filter.addItem("All folders", None)
            for r in rows:
                self.folder_filter.addItem(os.path.basename(r["path"]) or r["path"], r["path"])
            i = self.folder_filter.findData(current)
            self.folder_filter.setCurrentIndex(max(i, 0))
            self.folder_filter.blockSignals(False)

    def first_run(self) -> bool:
        """An empty library starts with the bundled sample photos, so a search works at once."""
        samples = resource_path("samples")
        if self.library.store.folders() or not samples.is_dir():
            return False
        self.index_folders([str(samples)])
        return True

    def choose_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Add a photo folder")
        if d:
            self.index_folders([d])

    def index_folders(self, paths: list[str]) -> None:
        if self.index_task.busy():
            self.show_error("Indexing is already running; wait for it or cancel it first.")
            return
        w = Worker(self.library.index, paths, model=self.model_spec, exclude=self.settings.exclude)
        w.signals.progress.connect(self._on_index_progress)
        w.signals.result.connect(self._on_indexed)
        w.signals.error.connect(self._on_index_error)
        self._set_indexing(True)
        self.progress_label.setText("scanning…")
        self.index_task.start(w)

    def rescan(self) -> None:
        paths = [r["path"] for r in self.folders.rows if r.get("exists", True)]
        if paths:
            self.index_folders(paths)

    def cancel_indexing(self) -> None:
        self.index_task.cancel()
        self.progress_label.setText("cancelling…")

    def remove_selected_folder(self) -> None:
        idx = self.folder_view.currentIndex()
        if not idx.isValid():
            return
        path = self.folders.data(idx, PathRole)
        w = Worker(self.library.forget, path)
        w.signals.finished.connect(self.refresh_folders)
        w.signals.error.connect(self.show_error)
        self.folder_task.start(w)

    def show_errors(self) -> None:
        rows = self.library.errors()
        text = "\n".join(f"{r.display_path}: {r.error}" for r in rows) or "No failed photos."
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Failed photos",
            f"{len(rows)} photo(s) could not be indexed.",
            parent=self,
        )
        box.setDetailedText(text)
        box.open()

    def _set_indexing(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on)
        if not on:
            self.progress.setRange(0, 1)

    def _on_index_progress(self, done: int, total: int, message: str) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        else:
            self.progress.setRange(0, 0)  # busy while scanning
        self.progress_label.setText(message)
        if total and done % 16 == 0:
            self.refresh_folders()

    def _on_indexed(self, summary) -> None:
        self._set_indexing(False)
        verb = "cancelled" if summary.cancelled else "done"
        self.progress_label.setText(
            f"{verb}: {summary.indexed} indexed, {summary.skipped_unchanged} unchanged, "
            f"{summary.failed} failed"
        )
        self.refresh_folders()
        self.indexing_finished.emit(summary)

    def _on_index_error(self, message: str, details: str) -> None:
        self._set_indexing(False)
        self.progress_label.setText("")
        self.show_error(message, details)
        self.indexing_finished.emit(None)

    # ---------------------------------------------------------------- search

    def choose_query(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open a query photo",
            "",
            "Photos (*.jpg *.jpeg *.png *.gif *.bmp *.tif *.tiff *.webp *.heic)",
        )
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

    def _on_box(self, box) -> None:
        if self.last_query:
            self.search(self.last_query, box=box, keep_photo=True)

    def search(self, path: str, box=None, keep_photo: bool = False, more: bool = False) -> None:
        """Search ``path`` (or its ``box``); ``more`` asks for the next page of the same query."""
        self.k = self.k + self.page_size if more else self.page_size
        self.last_query = path
        self.last_box = box
        self.explain_task.cancel()
        self.search_label.setText(f"searching {os.path.basename(path)}…")
        w = Worker(
            self.library.search,
            path,
            box=box,
            k=self.k,
            model=self.model_spec,
            folder=self.folder_filter.currentData(),
        )
        w.signals.result.connect(self._on_search)
        w.signals.error.connect(self._on_search_error)
        self.search_task.start(w)  # a new search cancels the previous one
        if not keep_photo:
            img = QImage(path)
            if not img.isNull():
                self.query_view.set_photo(img)

    def load_more(self) -> bool:
        """Infinite scroll: fetch the next page when the current one was full."""
        res = self.last_result
        if res is None or len(res.hits) < self.k or self.search_task.busy():
            return False
        self.search(self.last_query, box=self.last_box, keep_photo=True, more=True)
        return True

    def _maybe_load_more(self, value: int) -> None:
        bar = self.results_view.verticalScrollBar()
        # only when the user has scrolled: layout passes also move the range at value 0
        if value > 0 and value >= bar.maximum() - bar.pageStep() // 2:
            self.load_more()

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
        if self.heat_toggle.isChecked():
            self._show_heatmaps()
        self.search_finished.emit(res)

    # ---------------------------------------------------------------- explain

    def localizer(self):
        from engine.localize import Localizer

        if self._localizer is None:
            self._localizer = Localizer(self.library.model(self.model_spec)[0])
        return self._localizer

    def _heat_opacity(self):
        return self.opacity.value() / 100 if self.heat_toggle.isChecked() else None

    def _opacity_changed(self) -> None:
        self.query_view.set_heatmap(self.query_view.heat, self.opacity.value() / 100)
        self.results_view.viewport().update()

    def _heat_toggled(self, on: bool) -> None:
        if on:
            self._show_heatmaps()
        else:
            self.query_view.set_heatmap(None)
            self.results_view.viewport().update()

    def _show_heatmaps(self) -> None:
        """The query's heatmap from the search; the top results' computed off the GUI thread."""
        from engine.localize import explain, heatmap, overlay

        res = self.last_result
        if res is None:
            return
        box = res.box
        size = (round(box[2] - box[0]), round(box[3] - box[1])) if box else res.original_size
        heat = heatmap(res.attention, (max(1, size[0]), max(1, size[1])))
        self.query_view.set_heatmap(rgba_to_qimage(overlay(heat, 1.0)), self.opacity.value() / 100)
        ex = self.library.model(self.model_spec)[0]
        paths = [h.path for h in res.hits[:EXPLAIN_TOP] if h.path not in self.results.heats]

        def compute(progress, should_stop):
            out = []
            for i, p in enumerate(paths):
                if should_stop():
                    break
                try:
                    out.append((p, explain(ex, p, opacity=1.0, max_side=320).rgba))
                except Exception:  # an unreadable result simply gets no heatmap
                    continue
                progress(i + 1, len(paths), "heatmaps")
            return out

        w = Worker(compute)
        w.signals.result.connect(self._on_heatmaps)
        w.signals.error.connect(self.show_error)
        self.explain_task.start(w)

    def _on_heatmaps(self, items) -> None:
        for path, rgba in items:
            self.results.set_heat(path, rgba_to_qimage(rgba))
        self.heatmaps_finished.emit()

    def outline_click(self, point) -> None:
        """Outline the clicked object of the query in the top results."""
        res = self.last_result
        if res is None or not self.last_query:
            return
        loc = self.localizer()
        query, box = self.last_query, self.last_box
        hits = res.hits[:EXPLAIN_TOP]
        self.results.clear_outlines()

        def compute(progress, should_stop):
            out = []
            for i, h in enumerate(hits):
                if should_stop():
                    break
                try:
                    out.append((h, loc.localize(query, h.path, point=point, box=box)))
                except Exception as e:
                    out.append((h, str(e)))
                progress(i + 1, len(hits), "outlining")
            return out

        w = Worker(compute)
        w.signals.progress.connect(
            lambda d, t, m: self.search_label.setText(f"outlining the object: {d}/{t}")
        )
        w.signals.result.connect(self._on_outlines)
        w.signals.error.connect(self.show_error)
        self.explain_task.start(w)

    def _on_outlines(self, items) -> None:
        for h, found in items:
            if isinstance(found, str) or not h.width:
                continue
            self.results.set_outline(h.path, (found.box, (h.width, h.height)))
        self.search_label.setText(f"outlined the object in {len(items)} results")
        self.outlines_finished.emit(items)

    def _on_search_error(self, message: str, details: str) -> None:
        self.search_label.setText("")
        self.show_error(message, details)
        self.search_finished.emit(None)

    def _open_result(self, index) -> None:
        from PySide6.QtGui import QDesktopServices

        QDesktopServices.openUrl(QUrl.fromLocalFile(self.results.data(index, PathRole)))

    def _result_menu(self, pos) -> None:
        index = self.results_view.indexAt(pos)
        if not index.isValid():
            return
        menu = self.result_actions(self.results.data(index, PathRole))
        menu.popup(self.results_view.viewport().mapToGlobal(pos))

    def result_actions(self, path: str) -> QMenu:
        """The right-click menu of a result (also used by tests to trigger the actions)."""
        from PySide6.QtGui import QDesktopServices

        menu = QMenu(self)
        menu.addAction("Find similar", lambda: self.search(path))
        menu.addAction("Open", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(path)))
        menu.addAction(
            "Show in folder",
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path))),
        )
        menu.addAction("Copy path", lambda: QGuiApplication.clipboard().setText(path))
        menu.addAction("Compare with the query", lambda: self.compare(path))
        return menu

    def compare(self, path: str):
        from .dialogs import CompareDialog

        if not self.last_query:
            return None
        score = next((h.score for h in self.results.hits if h.path == path), None)
        dlg = CompareDialog(
            self.last_query, path, f"similarity {score:.3f}" if score is not None else "", self
        )
        dlg.open()
        return dlg

    def show_duplicates(self, threshold: float = 0.95) -> None:
        w = Worker(self.library.duplicates, threshold=threshold, model=self.model_spec)
        w.signals.result.connect(self._on_duplicates)
        w.signals.error.connect(self.show_error)
        self.explain_task.start(w)

    def _on_duplicates(self, groups) -> None:
        from .dialogs import DuplicatesDialog

        self.duplicates_dialog = DuplicatesDialog(groups, self)
        self.duplicates_dialog.trashed.connect(lambda _: self.rescan())
        self.duplicates_dialog.open()
        self.duplicates_shown.emit(self.duplicates_dialog)

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
            self.show_error(f"{path}: cannot write ({e.strerror or e})")

    # ---------------------------------------------------------------- drag and drop

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        folders = [u for u in urls if os.path.isdir(u)]
        files = [u for u in urls if not os.path.isdir(u)]
        if folders:
            self.index_folders(folders)
        if files:
            self.search(files[0])
        event.acceptProposedAction()

    # ---------------------------------------------------------------- errors, closing

    def show_error(self, message: str, details: str = "") -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "visual-search", message, parent=self)
        if details:
            box.setDetailedText(details)
        box.setAccessibleName("Error")
        box.open()  # not modal: the window stays usable
        self.error_shown.emit(message)

    def cancel_all(self) -> None:
        self.index_task.cancel()
        self.search_task.cancel()

    def open_wizard(self, **kwargs):
        from .wizard import TrainingWizard

        wiz = TrainingWizard(self.library, self.model_spec, self, **kwargs)
        wiz.use_model.connect(self.switch_model)
        wiz.open()
        self.wizard = wiz
        return wiz

    def switch_model(self, model_dir: str) -> None:
        """Re-index every folder with a new model in the background; searches keep using the
        old vectors (they stay in the library) until it is done, then the new model serves."""
        paths = [r["path"] for r in self.folders.rows if r.get("exists", True)]
        if not paths:
            self.model_spec = model_dir
            return
        w = Worker(self.library.index, paths, model=model_dir, exclude=self.settings.exclude)
        w.signals.progress.connect(self._on_index_progress)
        w.signals.result.connect(lambda s: self._model_switched(model_dir, s))
        w.signals.error.connect(self._on_index_error)
        self._set_indexing(True)
        self.index_task.start(w)

    def _model_switched(self, model_dir: str, summary) -> None:
        if not summary.cancelled:
            self.model_spec = model_dir
            self._localizer = None
        self._on_indexed(summary)

    def download_weights(self, backbone: str = "resnet50", url: str | None = None) -> None:
        """Fetch ImageNet weights for a backbone (checked, stored under the data folder);
        offline, a message explains it and the current model keeps working."""
        from engine import weights

        if url is None:
            w = Worker(weights.download_backbone, backbone)
        else:
            w = Worker(weights.download, url)
        w.signals.progress.connect(self._on_index_progress)
        w.signals.result.connect(
            lambda p: (
                self._set_indexing(False),
                self.progress_label.setText(f"stored {p}"),
                self.weights_downloaded.emit(str(p)),
            )
        )
        w.signals.error.connect(lambda m, d: (self._set_indexing(False), self.show_error(m, d)))
        self._set_indexing(True)
        self.download_task = TaskSlot(self)
        self.download_task.start(w)

    def open_settings(self):
        from .dialogs import SettingsDialog

        dlg = SettingsDialog(self.settings, self)
        dlg.accepted.connect(lambda: self.apply_settings(dlg.values()))
        dlg.open()
        return dlg

    def apply_settings(self, settings) -> None:
        """Use and save new settings; a model change applies to the next search or indexing."""
        self.settings = settings
        self.model_spec = settings.model if settings.model != "default" else None
        self.library.device = settings.device
        self.library.index_kind = settings.index_kind
        self.library._models.clear()
        self.library._indexes.clear()
        self._localizer = None
        self.thumbnails.size = settings.thumbnail_size
        settings.save()

    def shutdown(self) -> None:
        for slot in (
            self.index_task,
            self.search_task,
            self.folder_task,
            self.explain_task,
            getattr(self, "download_task", None),
        ):
            if slot is not None:
                slot.wait()
        self.thumbnails.wait()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="visual-search gui")
    parser.add_argument("--library", default=None, help="library directory")
    parser.add_argument("--model", default=None, help="model (default: the library's)")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("visual-search")
    from .settings import Settings

    settings, problem = Settings.load()
    lib = Library(args.library, device=settings.device, index_kind=settings.index_kind)
    win = MainWindow(lib, model=args.model, settings=settings)
    if problem:
        win.show_error(problem)
    win.show()
    win.first_run()
    return app.exec()
