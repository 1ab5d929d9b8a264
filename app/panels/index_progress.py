"""Indexing's progress for the library panel: a bar, one line saying what runs (the engine's
message: what it is doing, this run's rate and the time left) and Cancel, shown while it runs."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)


class IndexProgress(QWidget):
    """The bar (busy until a message says how much there is), the line and Cancel; the line
    stays when indexing ends, with what it did."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Indexing progress")
        self.label = QLabel("")
        self.label.setWordWrap(True)  # a long message never widens the window
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel indexing")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.bar)
        row = QHBoxLayout()
        row.addWidget(self.label, 1)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)
        self.running(False)

    def running(self, on: bool) -> None:
        """Show the bar and Cancel while indexing runs (the bar busy at first)."""
        self.bar.setVisible(on)
        self.cancel_button.setVisible(on)
        self.bar.setRange(0, 0 if on else 1)

    def step(self, done: int, total: int) -> None:
        """``done`` of ``total``; a total of 0 is work of unknown size (busy)."""
        self.bar.setRange(0, total)
        if total:
            self.bar.setValue(done)
