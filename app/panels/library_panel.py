"""The library panel: folders with their counts, the buttons that change them, indexing progress."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from resources import resource_path

from ..models import FoldersModel, PathRole
from ..state import AppState
from ..workers import TaskSlot, Worker


class LibraryPanel(QWidget):
    indexing_finished = Signal(object)  # IndexSummary, or None after an error
    folders_changed = Signal(list)  # rows of ``Library.status()["folders"]``
    model_switched = Signal(str)  # the library now serves this model
    error = Signal(str, str)  # message, details
    # buttons whose work belongs to other panels or dialogs
    duplicates_requested = Signal()
    train_requested = Signal()
    weights_requested = Signal()
    settings_requested = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.index_task = TaskSlot(self)
        self.folder_task = TaskSlot(self)
        self.folders = FoldersModel(self)
        self.folder_view = QTableView()
        self.folder_view.setModel(self.folders)
        self.folder_view.setAccessibleName("Library folders")
        self.folder_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.folder_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self._build_buttons()
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Indexing progress")
        self.progress_label = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel indexing")
        self.cancel_button.clicked.connect(self.cancel_indexing)
        self._set_indexing(False)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Library"))
        lay.addWidget(self.folder_view)
        for group in (
            (self.add_button, self.rescan_button, self.remove_button, self.weights_button),
            (self.errors_button, self.duplicates_button, self.train_button, self.settings_button),
        ):
            buttons = QHBoxLayout()
            for b in group:
                buttons.addWidget(b)
            lay.addLayout(buttons)
        lay.addWidget(self.progress)
        row = QHBoxLayout()
        row.addWidget(self.progress_label, 1)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)

    def _build_buttons(self) -> None:
        def button(text: str, tip: str, slot, accessible: bool = False) -> QPushButton:
            b = QPushButton(text)
            if tip:
                b.setToolTip(tip)
            if accessible:
                b.setAccessibleName(text.rstrip("…"))
            b.clicked.connect(lambda: slot())
            return b

        self.add_button = button("Add folder…", "Index a photo folder", self.choose_folder, True)
        self.rescan_button = button(
            "Re-scan", "Index what changed in every folder", self.rescan, True
        )
        self.remove_button = button(
            "Remove",
            "Forget the selected folder (files stay on disk)",
            self.remove_selected_folder,
            True,
        )
        self.errors_button = button(
            "Failed files…",
            "Photos that could not be indexed, with reasons",
            self.show_errors,
            True,
        )
        self.duplicates_button = button(
            "Duplicates…", "Groups of near-duplicate photos", self.duplicates_requested.emit
        )
        self.train_button = button("Train a model…", "", self.train_requested.emit)
        self.weights_button = button(
            "ImageNet weights…",
            "Download the ImageNet-pretrained ResNet-50 backbone "
            "(about 100 MB, checked against its checksum)",
            self.weights_requested.emit,
        )
        self.settings_button = button("Settings…", "", self.settings_requested.emit)

    # ---------------------------------------------------------------- folders

    def folder_paths(self) -> list[str]:
        """The library's folders that still exist."""
        return [r["path"] for r in self.folders.rows if r.get("exists", True)]

    def refresh_folders(self) -> None:
        w = Worker(lambda: self.state.library.status()["folders"])
        w.signals.result.connect(self._set_folders)
        self.folder_task.start(w)

    def _set_folders(self, rows: list[dict]) -> None:
        self.folders.set_rows(rows)
        self.folders_changed.emit(rows)

    def first_run(self) -> bool:
        """An empty library starts with the bundled sample photos, so a search works at once."""
        samples = resource_path("samples")
        if self.state.library.store.folders() or not samples.is_dir():
            return False
        self.index_folders([str(samples)])
        return True

    def choose_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Add a photo folder")
        if d:
            self.index_folders([d])

    def remove_selected_folder(self) -> None:
        idx = self.folder_view.currentIndex()
        if not idx.isValid():
            return
        w = Worker(self.state.library.forget, self.folders.data(idx, PathRole))
        w.signals.finished.connect(self.refresh_folders)
        w.signals.error.connect(self.error)
        self.folder_task.start(w)

    def show_errors(self) -> None:
        rows = self.state.library.errors()
        text = "\n".join(f"{r.display_path}: {r.error}" for r in rows) or "No failed photos."
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Failed photos",
            f"{len(rows)} photo(s) could not be indexed.",
            parent=self,
        )
        box.setDetailedText(text)
        box.open()

    # ---------------------------------------------------------------- indexing

    def index_folders(self, paths: list[str]) -> None:
        if self.index_task.busy():
            self.error.emit("Indexing is already running; wait for it or cancel it first.", "")
            return
        self.progress_label.setText("scanning…")
        self._start_indexing(paths, self.state.model_spec, self._on_indexed)

    def rescan(self) -> None:
        paths = self.folder_paths()
        if paths:
            self.index_folders(paths)

    def switch_model(self, model_dir: str) -> None:
        """Re-index every folder with a new model in the background; searches keep using the
        old vectors (they stay in the library) until it is done, then the new model serves."""
        paths = self.folder_paths()
        if not paths:
            self._use_model(model_dir)
            return
        self._start_indexing(
            paths, model_dir, lambda summary: self._on_reindexed(model_dir, summary)
        )

    def cancel_indexing(self) -> None:
        """Stop indexing between photos; what was indexed stays (and is reported)."""
        self.index_task.stop()
        self.progress_label.setText("cancelling…")

    def _start_indexing(self, paths: list[str], model: str | None, on_done) -> None:
        w = Worker(
            self.state.library.index, paths, model=model, exclude=self.state.settings.exclude
        )
        w.signals.progress.connect(self._on_index_progress)
        w.signals.result.connect(on_done)
        w.signals.error.connect(self._on_index_error)
        self._set_indexing(True)
        self.index_task.start(w)

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

    def _on_reindexed(self, model_dir: str, summary) -> None:
        if not summary.cancelled:
            self._use_model(model_dir)
        self._on_indexed(summary)

    def _use_model(self, model_dir: str) -> None:
        self.state.model_spec = model_dir
        self.model_switched.emit(model_dir)

    def _on_index_error(self, message: str, details: str) -> None:
        self._set_indexing(False)
        self.progress_label.setText("")
        self.error.emit(message, details)
        self.indexing_finished.emit(None)

    def shutdown(self) -> None:
        self.index_task.wait()
        self.folder_task.wait()
