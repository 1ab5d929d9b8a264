"""The library panel: folders with their counts, the buttons that change them, indexing progress,
and keeping the library current (``check_for_changes``: what changed on disk is indexed in the
background, with a notice saying what was noticed)."""

from __future__ import annotations

import os
import time

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.dialogs import remove_folder_question
from app.models import FoldersModel, PathRole, folder_name, indexing_done_text
from app.panels.index_progress import IndexProgress
from app.panels.keep_current import KeepCurrent
from app.state import AppState
from app.workers import TaskSlot, Worker
from resources import resource_path

#: the folder table follows indexing at most this often (a refresh reads the library's counts)
REFRESH_EVERY_S = 1.0


class LibraryPanel(QWidget):
    indexing_finished = Signal(object)  # IndexSummary, or None after an error
    folders_changed = Signal(list)  # rows of ``Library.status()["folders"]``
    model_switched = Signal(str)  # the library now serves this model
    error = Signal(str, str)  # message, details
    folder_selected = Signal(bool)  # whether a folder is chosen (Remove can act)
    resumed = Signal(int)  # photos left pending by an earlier session, now being indexed
    folder_removed = Signal(str)  # a folder the library no longer holds (its photos went)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.index_task = TaskSlot(self)
        self.folder_task = TaskSlot(self)
        self._refresh_again = False  # the folders changed while a refresh was reading them
        self._last_refresh = 0.0
        self._last_summary = None  # the last indexing's summary, until the folders are listed
        self._done_line = ""  # the line it was shown as
        self._first_listing = True
        self.last_question: QMessageBox | None = None
        self.failed_dialog = None  # the last "Failed photos" dialog
        #: folders being indexed (shown at once, before the engine lists them) and folders
        #: asked for while indexing ran, indexed when it ends
        self.indexing_paths: list[str] = []
        self.queued: list[str] = []
        #: folders added with "follow links" on, until their indexing starts
        self.follow_choice: set[str] = set()
        self._refreshed_this_run = False
        self.folders = FoldersModel(self, sample_folder=self.samples_folder())
        self.folder_view = QTableView()
        self.folder_view.setModel(self.folders)
        self.folder_view.setAccessibleName("Library folders")
        self.folder_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.folder_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self._build_buttons()
        self.index_progress = IndexProgress()
        ip = self.index_progress
        self.progress, self.progress_label, self.cancel_button = ip.bar, ip.label, ip.cancel_button
        self.cancel_button.clicked.connect(self.cancel_indexing)
        #: keeping the library current: its checks, and the notice of what it noticed and did
        self.update_notice = KeepCurrent(self)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("Library"))
        lay.addWidget(self.folder_view)
        for group in (
            (self.add_button, self.rescan_button),
            (self.remove_button, self.errors_button),
        ):
            buttons = QHBoxLayout()
            for b in group:
                buttons.addWidget(b)
            lay.addLayout(buttons)
        lay.addWidget(self.follow_links)
        lay.addWidget(self.update_notice)
        lay.addWidget(self.index_progress)

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
        self.follow_links = QCheckBox("Follow outside links")
        self.follow_links.setToolTip(
            "For a folder added now: also index the photos its symbolic links point to outside "
            "the library's folders (by default such links are skipped and listed as notes)"
        )
        for b in (self.remove_button, self.rescan_button, self.errors_button):
            b.setEnabled(False)  # nothing to act on until the library lists its folders
        self.folder_view.selectionModel().selectionChanged.connect(self._selection_changed)

    # ---------------------------------------------------------------- folders

    def folder_paths(self) -> list[str]:
        """The library's folders that still exist."""
        rows = self.folders.rows
        return [r["path"] for r in rows if r.get("exists", True) and not r.get("listing")]

    def refresh_folders(self) -> None:
        """List the folders with their counts again, on a worker. A refresh in flight is not
        cancelled (indexing asks often; cancelling would show none): one more follows it."""
        if self.folder_task.busy():
            self._refresh_again = True
            return
        self._refresh_again = False
        self._last_refresh = time.monotonic()
        w = Worker(lambda: self.state.library.status()["folders"])
        w.signals.result.connect(self._set_folders)
        w.signals.finished.connect(self._refresh_if_asked)
        self.folder_task.start(w)

    def _refresh_if_asked(self) -> None:
        if self._refresh_again:
            QTimer.singleShot(0, self.refresh_folders)

    def _set_folders(self, rows: list[dict]) -> None:
        first = self._first_listing
        self._first_listing = False
        self._show_folders(rows)
        if first:
            self.resume_pending(rows)
            self.check_for_changes()  # what changed while the window was closed

    def _show_folders(self, rows: list[dict]) -> None:
        rows = [r for r in rows if not r.get("listing")] + self._not_listed_yet(rows)
        self.folders.set_rows(rows)
        # a column of zeros says nothing and takes the names' room in a narrow window: Pending
        # shows while photos wait, Failed where some failed
        for col, key in ((2, "pending"), (3, "failed")):
            self.folder_view.setColumnHidden(col, not any(r.get(key) for r in rows))
        self._selection_changed()
        self.rescan_button.setEnabled(bool(self.folder_paths()))
        self.errors_button.setEnabled(any(r.get("failed") for r in rows))
        summary, self._last_summary = self._last_summary, None
        shown = self.progress_label.text() == self._done_line  # nothing said since
        if summary is not None and shown and not self.index_task.busy():
            self._done_line = indexing_done_text(summary, rows)
            self.progress_label.setText(self._done_line)
        self.folders_changed.emit(rows)

    def _not_listed_yet(self, rows: list[dict]) -> list[dict]:
        """Rows for the folders being indexed that the engine does not list yet (it registers
        them when its scan starts): they show at once, their counts still unknown."""
        if not self.index_task.busy():
            return []
        listed = [os.path.normpath(r["path"]) for r in rows if not r.get("listing")]
        out = []
        for p in self.indexing_paths:
            p = os.path.normpath(os.path.abspath(p))
            if not any(p == q or p.startswith(q.rstrip(os.sep) + os.sep) for q in listed):
                out.append({"path": p, "indexed": 0, "pending": 0, "failed": 0, "listing": True})
                listed.append(p)
        return out

    def _selection_changed(self, *_args) -> None:
        idx = self.folder_view.currentIndex()
        on = idx.isValid() and 0 <= idx.row() < len(self.folders.rows)
        on = on and not self.folders.rows[idx.row()].get("listing")  # not registered yet
        self.remove_button.setEnabled(on)
        self.folder_selected.emit(on)

    def resume_pending(self, rows: list[dict]) -> int:
        """Photos an earlier session found but did not index (it was closed or cancelled) are
        indexed now, and the progress line says so."""
        pending = [r for r in rows if r.get("pending") and r.get("exists", True)]
        n = sum(r["pending"] for r in pending)
        if not n or self.index_task.busy():
            return 0
        self.index_folders([r["path"] for r in pending])
        self.progress_label.setText(
            f"resuming: {n} photo{'s' if n != 1 else ''} were not indexed yet"
        )
        self.resumed.emit(n)
        return n

    @staticmethod
    def samples_folder() -> str | None:
        samples = resource_path("samples")
        return str(samples) if samples.is_dir() else None

    def add_samples(self) -> bool:
        """Index the bundled sample photos (only when the user asks for them)."""
        samples = self.samples_folder()
        if samples is None:
            return False
        self.index_folders([samples])
        return True

    def choose_folder(self) -> None:
        settings = self.state.settings
        d = QFileDialog.getExistingDirectory(self, "Add a photo folder", settings.start_folder())
        if d:
            settings.remember_folder(d)
            self.add_folder(d, self.follow_links.isChecked())

    def add_folder(self, path: str, follow_links: bool = False) -> None:
        """Index a folder the user added; ``follow_links``: its links are followed wherever
        they lead (kept with the folder by the engine)."""
        if follow_links:
            self.follow_choice.add(path)
        self.index_folders([path])

    def remove_selected_folder(self) -> bool:
        """Forget the chosen folder, after a confirmation that says the files stay on disk."""
        idx = self.folder_view.currentIndex()
        if not idx.isValid():
            return False
        path = self.folders.data(idx, PathRole)
        row = next((r for r in self.folders.rows if r["path"] == path), {})
        n = row.get("indexed", 0) + row.get("pending", 0) + row.get("failed", 0)
        self.last_question = ask = remove_folder_question(self, path, n)
        if ask.exec() != QMessageBox.StandardButton.Yes:
            return False
        w = Worker(self.state.library.forget, path)
        name = folder_name(path, self.folders.sample_folder)
        w.signals.result.connect(
            lambda _n: self.progress_label.setText(f"removed {name} from the library")
        )
        w.signals.result.connect(lambda _n: self.folder_removed.emit(path))
        w.signals.finished.connect(self.refresh_folders)
        w.signals.error.connect(self.error)
        self.folder_task.start(w)
        return True

    def show_errors(self):
        """The photos that could not be indexed, each with its reason, in a table; a window of
        its own (not modal): the main window stays usable."""
        from app.dialogs import FailedPhotosDialog

        rows = [(r.display_path, r.error or "") for r in self.state.library.errors()]
        self.failed_dialog = FailedPhotosDialog(rows, self)
        self.failed_dialog.show()
        return self.failed_dialog

    # ---------------------------------------------------------------- indexing

    def index_folders(self, paths: list[str]) -> None:
        """Index ``paths``; while indexing runs they wait in a queue and follow when it ends."""
        if self.index_task.busy():
            self.queued += [p for p in paths if p not in self.queued]
            self.progress_label.setText(self._with_queue(self.progress_label.text()))
            return
        follow = [p for p in paths if p in self.follow_choice]
        if follow and len(follow) < len(paths):  # one setting per run: those wait their turn
            self.queued += [p for p in follow if p not in self.queued]
            paths, follow = [p for p in paths if p not in follow], []
        self.progress_label.setText("scanning…")
        self._start_indexing(
            paths, self.state.model_spec, self._on_indexed, follow_links=True if follow else None
        )
        self.follow_choice.difference_update(paths)

    def _with_queue(self, text: str) -> str:
        """A progress line, followed by the folders that wait for their turn."""
        text = text.split(" · queued: ")[0]
        if not self.queued:
            return text
        names = ", ".join(folder_name(p, self.folders.sample_folder) for p in self.queued)
        return f"{text} · queued: {names}" if text else f"queued: {names}"

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
        """Stop indexing between photos; what was indexed stays (and is reported). Folders
        that waited in the queue are not indexed."""
        self.index_task.stop()
        self.queued = []
        self.progress_label.setText("cancelling…")

    def _start_indexing(
        self, paths: list[str], model: str | None, on_done, follow_links: bool | None = None
    ) -> None:
        w = Worker(
            self.state.library.index,
            paths,
            model=model,
            exclude=self.state.settings.exclude,
            follow_links=follow_links,
        )
        w.signals.progress.connect(self._on_index_progress)
        w.signals.result.connect(on_done)
        w.signals.error.connect(self._on_index_error)
        self.index_progress.running(True)
        self.indexing_paths = list(paths)
        self._refreshed_this_run = False
        w.signals.finished.connect(self._start_queued)
        self.index_task.start(w)
        self._show_folders(self.folders.rows)  # the new folders show at once

    def _on_index_progress(self, done: int, total: int, message: str) -> None:
        self.index_progress.step(done, total)
        self.progress_label.setText(self._with_queue(message))
        # the first message comes once the scan has registered the folders: list them now;
        # then the counts follow the bar every REFRESH_EVERY_S
        late = time.monotonic() - self._last_refresh >= REFRESH_EVERY_S
        if not self._refreshed_this_run or late:
            self._refreshed_this_run = True
            self.refresh_folders()

    def _on_indexed(self, summary) -> None:
        self.index_progress.running(False)
        self._last_summary = summary
        self._done_line = indexing_done_text(summary, self.folders.rows)
        self.progress_label.setText(self._done_line)
        self.refresh_folders()  # its rows bring the library's own count of failures
        self.indexing_finished.emit(summary)
        self.update_notice.indexing_ended(summary)

    # ---------------------------------------------------------------- keeping current

    def check_for_changes(self) -> bool:
        """Look for what changed in the folders, index it in the background (``KeepCurrent``)."""
        return self.update_notice.check()

    def _start_queued(self) -> None:
        """The folders asked for while indexing ran: their turn now."""
        if self.queued and not self.index_task.busy():
            paths, self.queued = self.queued, []
            self.index_folders(paths)

    def _on_reindexed(self, model_dir: str, summary) -> None:
        if not summary.cancelled:
            self._use_model(model_dir)
        self._on_indexed(summary)

    def _use_model(self, model_dir: str) -> None:
        self.state.model_spec = model_dir
        self.model_switched.emit(model_dir)

    def _on_index_error(self, message: str, details: str) -> None:
        self.index_progress.running(False)
        self.progress_label.setText("")
        self.refresh_folders()
        self.error.emit(message, details)
        self.indexing_finished.emit(None)
        self.update_notice.indexing_ended(None)

    def shutdown(self) -> None:
        self.update_notice.shutdown()
        self.index_task.wait()
        self.folder_task.wait()
