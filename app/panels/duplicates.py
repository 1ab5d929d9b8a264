"""The duplicates view: near-duplicate groups (and similar shots) found on their own task,
shown in a dialog with each photo's evidence (matching points); *Compare* can draw them.

While the task runs, a progress dialog shows the engine's stage, rate and time left; its *Stop*
keeps the groups of the pairs checked so far (they are shown, marked as partial). A search does
not cancel the scan (it has its own task); a second scan replaces the first.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from app.state import AppState
from app.workers import TaskSlot, Worker


class DuplicatesView(QObject):
    shown = Signal(object)  # the DuplicatesDialog, once open
    started = Signal(object)  # the DuplicatesProgress, once open
    trashed = Signal(list)  # paths moved to the trash
    error = Signal(str, str)

    def __init__(self, state: AppState, parent: QWidget, thumbnails=None) -> None:
        super().__init__(parent)
        self.state = state
        self.thumbnails = thumbnails
        self.window = parent
        self.task = TaskSlot(self)
        self.dialog = None
        self.progress = None

    def scan(self, threshold: float | None = None) -> None:
        """Find the groups; ``threshold`` is the engine's (None: its default)."""
        from app.duplicates_progress import DuplicatesProgress

        w = Worker(
            self.state.library.duplicates,
            threshold=threshold,
            model=self.state.model_spec,
            similar=True,
        )
        self._close_progress()
        self.progress = DuplicatesProgress(self.window)
        self.progress.stop_requested.connect(self.task.stop)
        w.signals.progress.connect(self.progress.update_progress)
        w.signals.result.connect(self._on_groups)
        w.signals.error.connect(self._on_error)
        self.task.start(w)
        self.progress.open()
        self.started.emit(self.progress)

    def _close_progress(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None

    def _on_error(self, message: str, details: str) -> None:
        self._close_progress()
        self.error.emit(message, details)

    def _on_groups(self, groups) -> None:
        from app.duplicates_dialog import DuplicatesDialog

        self._close_progress()
        lib, spec = self.state.library, self.state.model_spec
        self.dialog = DuplicatesDialog(
            groups,
            self.window,
            evidence_of=lambda path, fid: lib.evidence(path, fid, model=spec),
            thumbnails=self.thumbnails,
        )
        self.dialog.trashed.connect(self.trashed)
        self.dialog.open()
        self.shown.emit(self.dialog)

    def shutdown(self) -> None:
        self.task.wait()
        self._close_progress()
