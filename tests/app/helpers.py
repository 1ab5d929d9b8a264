"""What the window's tests share that is not a fixture: the main window over a library,
answering a modal dialog, the wizard's Next button."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QWizard


def answer_next_modal(answer) -> list:
    """Call ``answer(dialog)`` on the next modal dialog, from the event loop; returns a list
    that receives the dialog (to check it after it closed)."""
    seen: list = []

    def poll() -> None:
        w = QApplication.activeModalWidget()
        if w is None:
            QTimer.singleShot(20, poll)
            return
        seen.append(w)
        answer(w)

    QTimer.singleShot(0, poll)
    return seen


def next_button(wiz):
    return wiz.button(QWizard.WizardButton.NextButton)


def window_over(qtbot, library: Path, model: str) -> Iterator:
    """Yield the main window over the library at ``library`` (shown; CPU), then wait for every
    worker it started and close the library: the body of a window fixture."""
    from app.gui import MainWindow
    from engine.library import Library

    lib = Library(library, device="cpu")
    win = MainWindow(lib, model=model)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown()
    lib.close()
