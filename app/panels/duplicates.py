"""The duplicates view: near-duplicate groups found on their own task, shown in a dialog with
each photo's evidence (matching points); *Compare* can draw them.

A search does not cancel the scan (it has its own task); a second scan replaces the first.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from app.state import AppState
from app.workers import TaskSlot, Worker


class DuplicatesView(QObject):
    shown = Signal(object)  # the DuplicatesDialog, once open
    trashed = Signal(list)  # paths moved to the trash
    error = Signal(str, str)

    def __init__(self, state: AppState, parent: QWidget, thumbnails=None) -> None:
        super().__init__(parent)
        self.state = state
        self.thumbnails = thumbnails
        self.window = parent
        self.task = TaskSlot(self)
        self.dialog = None

    def scan(self, threshold: float | None = None) -> None:
        """Find the groups; ``threshold`` is the engine's (None: its default)."""
        w = Worker(self.state.library.duplicates, threshold=threshold, model=self.state.model_spec)
        w.signals.result.connect(self._on_groups)
        w.signals.error.connect(self.error)
        self.task.start(w)

    def _on_groups(self, groups) -> None:
        from app.duplicates_dialog import DuplicatesDialog

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
