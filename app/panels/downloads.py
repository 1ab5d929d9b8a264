"""Downloads of pretrained weights: their own progress bar, label and Cancel, their own task."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.workers import TaskSlot, Worker


class DownloadsPanel(QWidget):
    """Hidden until a download runs; indexing and searching go on meanwhile."""

    downloaded = Signal(str)  # where the checked file was stored
    error = Signal(str, str)  # message, details

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task = TaskSlot(self)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Download progress")
        self.label = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel download")
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout()
        row.addWidget(self.label, 1)
        row.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.progress)
        lay.addLayout(row)
        self._set_running(False)

    def download_weights(self, backbone: str = "resnet50", url: str | None = None) -> None:
        """Fetch ImageNet weights for a backbone (checked, stored under the data folder);
        offline, a message explains it and the current model keeps working."""
        from engine.network import download, download_backbone

        def fetch(progress, should_stop):
            if url is None:
                return download_backbone(backbone, progress=progress, should_stop=should_stop)
            return download(url, progress=progress, should_stop=should_stop)

        w = Worker(fetch)
        w.signals.progress.connect(self._on_progress)
        w.signals.result.connect(self._on_done)
        w.signals.error.connect(self._on_error)
        self.label.setText("connecting…")
        self._set_running(True)
        self.task.start(w)

    def cancel(self) -> None:
        self.task.cancel()  # a partial download is never kept
        self._set_running(False)
        self.label.setText("download cancelled")

    def _set_running(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on)
        self.setVisible(on or bool(self.label.text()))  # idle and silent: takes no room
        if not on:
            self.progress.setRange(0, 1)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        else:
            self.progress.setRange(0, 0)
        self.label.setText(message)

    def _on_done(self, path) -> None:
        self.label.setText(f"stored {path}")
        self._set_running(False)
        self.downloaded.emit(str(path))

    def _on_error(self, message: str, details: str) -> None:
        self.label.setText("")
        self._set_running(False)
        self.error.emit(message, details)

    def shutdown(self) -> None:
        self.task.wait()
