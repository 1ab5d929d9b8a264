"""Opening the window: something is on screen within a moment, before the engine loads.

Importing the engine (PyTorch, FAISS, OpenCV) and opening the library take seconds on a cold
disk, so the application first shows a small "opening" window, then builds the main window
behind it and swaps the two. This module imports only Qt; the engine comes in ``open_main``.
"""

from __future__ import annotations

import argparse
import sys

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

from app.collector import collect_on_main_thread


def show_opening(app: QApplication) -> QLabel:
    """A small frameless window saying the application is opening, painted at once."""
    label = QLabel("visual-search\n\nopening your photo library…")
    label.setWindowTitle("visual-search")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWindowFlags(Qt.WindowType.SplashScreen | Qt.WindowType.FramelessWindowHint)
    label.setStyleSheet("font-size: 16px; padding: 24px; border: 1px solid palette(mid);")
    label.resize(360, 160)
    label.show()
    app.processEvents()  # painted now, not after the imports below
    return label


def open_main(args: argparse.Namespace):
    """The main window over the library (this is where the engine is imported)."""
    from app.gui import MainWindow
    from app.settings import Settings
    from engine.library import Library

    settings, problem = Settings.load()
    lib = Library(args.library, device=settings.device, index_kind=settings.index_kind)
    win = MainWindow(lib, model=args.model, settings=settings)
    if problem:
        win.show_error(problem)
    win.search_panel.warm_up()  # the first search finds the model and indexes loaded
    return win


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="visual-search gui")
    parser.add_argument("--library", default=None, help="library directory")
    parser.add_argument("--model", default=None, help="model (default: the library's)")
    args = parser.parse_args(argv)
    app = QApplication.instance()
    if app is None:
        from app.startup import display_problem

        problem = display_problem()
        if problem:  # Qt would abort the process instead of saying so
            print(f"visual-search: cannot open the window: {problem}", file=sys.stderr)
            return 1
        app = QApplication(sys.argv[:1])
    app.setApplicationName("visual-search")
    collector = collect_on_main_thread(app)
    opening = show_opening(app)
    win = open_main(args)
    win.show()
    opening.close()
    collector.freeze()  # the engine and the window are loaded: later collections skip them
    return app.exec()
