"""The confirmation before photos go to the trash: the photo kept named, every file that would
go and every other one that stays (with why) in bounded, scrolling lists, the buttons always
visible and *Cancel* the default."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QVBoxLayout,
    QWidget,
)

#: the confirmation never grows past this share of the screen
SCREEN_SHARE = 0.7


def _bounded(widget: QWidget, width: int, height: int) -> None:
    """Resize ``widget`` to at most ``SCREEN_SHARE`` of the screen it is on."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is not None:
        avail = screen.availableGeometry()
        width = min(width, int(avail.width() * SCREEN_SHARE))
        height = min(height, int(avail.height() * SCREEN_SHARE))
        widget.setMaximumSize(int(avail.width() * 0.9), int(avail.height() * 0.9))
    widget.resize(width, height)


class TrashConfirmation(QDialog):
    """ "Move these N photos to the trash?" with every one of them listed (scrolling), the photo
    kept named above, and the buttons below the list, always on screen."""

    def __init__(
        self,
        keep: str,
        others: list[str],
        parent: QWidget | None = None,
        stay: list[tuple[str, str]] = (),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Move to trash?")
        n = len(others)
        text = QLabel(
            f"Keep <b>{os.path.basename(keep)}</b> ({keep}) and move {n} other file"
            f"{'s' if n != 1 else ''} to the system trash?<br>You can restore them from the "
            "trash; nothing is deleted outright."
        )
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.keep_label = text
        self.list = QListWidget()
        self.list.setAccessibleName("Files to move to the trash")
        self.list.addItems(others)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        #: the files that stay besides the one kept, each with why
        self.stay_list = QListWidget()
        self.stay_list.setAccessibleName("Files that stay")
        self.stay_list.addItems([f"{p} — stays: {why}" for p, why in stay])
        self.stay_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.stay_list.setVisible(bool(stay))
        self.buttons = QDialogButtonBox()
        self.yes = self.buttons.addButton(
            f"Move {n} to trash", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.no = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.yes.setAutoDefault(False)
        self.no.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addWidget(self.list, 3)
        lay.addWidget(self.stay_list, 1)
        lay.addWidget(self.buttons)
        _bounded(self, 640, 120 + 22 * min(n + len(stay), 30))
        self.no.setFocus()
