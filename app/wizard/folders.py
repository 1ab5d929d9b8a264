"""The wizard's file dialogs open where the person last was: the last folder chosen in any of
them, or Pictures the first time (a person's photos are there, not in the working folder)."""

from __future__ import annotations

import os

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog, QWidget

#: the folder the last of the wizard's dialogs was left in (this session)
_last: str | None = None


def start_folder() -> str:
    """Where the next dialog opens: the last folder used if it still exists, else Pictures,
    else the home folder."""
    if _last and os.path.isdir(_last):
        return _last
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    if pictures and os.path.isdir(pictures):
        return pictures
    return os.path.expanduser("~")


def _remember(path: str) -> str:
    global _last
    if path:
        _last = path if os.path.isdir(path) else os.path.dirname(path)
    return path


def pick_folder(parent: QWidget, title: str) -> str:
    """A folder chosen by the person ("" when they cancelled)."""
    return _remember(QFileDialog.getExistingDirectory(parent, title, start_folder()))


def pick_file(parent: QWidget, title: str, filters: str = "") -> str:
    """A file chosen by the person ("" when they cancelled)."""
    path, _ = QFileDialog.getOpenFileName(parent, title, start_folder(), filters)
    return _remember(path)
