"""The wizard's file dialogs open where the person last was, as the window's do: the folder
any of them was last left in (``Settings.last_folder``, kept across sessions), or Pictures the
first time (a person's photos are there, not in the working folder)."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QWidget

from app.settings import Settings


def start_folder() -> str:
    """Where the next dialog opens (``Settings.start_folder``)."""
    return Settings.load()[0].start_folder()


def _remember(path: str) -> str:
    if path:
        settings, problem = Settings.load()
        if problem is None:  # unreadable settings are not overwritten from here
            settings.remember_folder(path)
    return path


def pick_folder(parent: QWidget, title: str) -> str:
    """A folder chosen by the person ("" when they cancelled)."""
    return _remember(QFileDialog.getExistingDirectory(parent, title, start_folder()))


def pick_file(parent: QWidget, title: str, filters: str = "") -> str:
    """A file chosen by the person ("" when they cancelled)."""
    path, _ = QFileDialog.getOpenFileName(parent, title, start_folder(), filters)
    return _remember(path)
