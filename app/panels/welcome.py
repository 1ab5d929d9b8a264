"""What the search side shows before the first search: real buttons, not a hint.

An empty library offers to add a folder or to try the bundled sample photos (they are added
only when asked); a library with photos offers to open or paste a query photo. A search of a
library with no photos comes back here with a notice that says so, and the buttons to add some.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class Welcome(QWidget):
    open_requested = Signal()
    paste_requested = Signal()
    add_folder_requested = Signal()
    samples_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Getting started")
        self.title = QLabel("Find the same object or place across your photos")
        self.title.setStyleSheet("font-size: 18px; font-weight: bold;")
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.notice = QLabel("")  # why a search came back here
        self.notice.setAccessibleName("Notice")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("font-size: 14px; font-weight: bold;")
        self.notice.hide()
        self._empty, self._samples = True, True
        for label in (self.title, self.notice, self.text):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.open_button = QPushButton("Open a photo…")
        self.open_button.setToolTip("Search your library for what this photo shows (Ctrl+O)")
        self.paste_button = QPushButton("Paste a photo")
        self.paste_button.setToolTip("Search with a photo or a file copied to the clipboard")
        self.add_button = QPushButton("Add a photo folder…")
        self.add_button.setToolTip("Index a folder of your photos so it can be searched")
        self.samples_button = QPushButton("Try the sample photos")
        self.samples_button.setToolTip(
            "Add the 12 sample photos that come with the application to this library"
        )
        self.open_button.clicked.connect(self.open_requested)
        self.paste_button.clicked.connect(self.paste_requested)
        self.add_button.clicked.connect(self.add_folder_requested)
        self.samples_button.clicked.connect(self.samples_requested)
        row = QHBoxLayout()
        row.addStretch(1)
        for b in (self.add_button, self.samples_button, self.open_button, self.paste_button):
            row.addWidget(b)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        lay.addWidget(self.title)
        lay.addWidget(self.notice)
        lay.addWidget(self.text)
        lay.addLayout(row)
        lay.addStretch(2)
        self.set_library_empty(True)

    def set_library_empty(self, empty: bool, samples: bool = True) -> None:
        """``empty``: the library has no folder yet; ``samples``: sample photos can be added."""
        self._empty, self._samples = empty, samples
        adding = empty or bool(self.notice.text())  # a notice asks for photos too
        self.add_button.setVisible(adding)
        self.samples_button.setVisible(adding and samples)
        self.open_button.setVisible(not empty)
        self.paste_button.setVisible(not empty)
        self.open_button.setDefault(not empty)
        self.add_button.setDefault(empty)
        self.text.setText(
            "Your library is empty. Add a folder of your photos: they are indexed on this "
            "computer, and nothing leaves it."
            + (" Or try the sample photos first." if samples else "")
            if empty
            else "Open, paste or drop a photo to find what it shows in your folders. "
            "Drag a box on the photo to search only that part."
        )

    def show_notice(self, text: str) -> None:
        """Say why a search came back here (``""``: no notice), with the buttons to add photos."""
        self.notice.setText(text)
        self.notice.setVisible(bool(text))
        self.set_library_empty(self._empty, self._samples)
