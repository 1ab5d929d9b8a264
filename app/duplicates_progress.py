"""The progress of a search for duplicates: the engine's stage, rate and time left, and *Stop*,
which keeps the groups of the pairs checked so far."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout


class DuplicatesProgress(QDialog):
    """Finding duplicates: what the engine is doing, with its rate and the time left, and
    *Stop*, which keeps the groups of the pairs checked so far."""

    stop_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Finding duplicates")
        self.label = QLabel("finding candidate pairs…")
        self.label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Duplicates progress")
        self.bar.setRange(0, 0)
        self.stop_button = QPushButton("Stop and show what was found")
        self.stop_button.setAutoDefault(False)
        self.stop_button.clicked.connect(self._stop)
        lay = QVBoxLayout(self)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.stop_button)
        lay.addLayout(row)
        self.resize(480, 120)

    def update_progress(self, done: int, total: int, message: str) -> None:
        if total > 0:
            self.bar.setRange(0, total)
            self.bar.setValue(done)
        self.label.setText(message)

    def _stop(self) -> None:
        self.stop_button.setEnabled(False)
        self.label.setText("stopping: keeping the pairs checked so far…")
        self.stop_requested.emit()
