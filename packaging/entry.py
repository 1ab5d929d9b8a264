"""Entry point of the frozen app (PyInstaller): the same ``main`` as ``visual-search``.

Both bundles start here. It imports no PyTorch: the standard bundle has none, and the training
bundle imports torch before Qt in a runtime hook (``rth_torch_first.py``), which PyInstaller
runs before this file.

``VISUAL_SEARCH_STARTUP_PROBE=<launch time, seconds since the epoch>`` (set by ``build.sh``)
measures how long the window takes to appear: the app starts as usual, prints one JSON line
``{"startup_probe": {...}}`` with the seconds from launch to the "opening" window and to the
first paint of the main window, and quits. Unset, nothing changes.
"""

import json
import multiprocessing
import os
import sys
import time


def _install_startup_probe(t0: float) -> None:
    """Wrap the window's two opening steps to time them, then quit after the first paint."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    import app.launch as launch

    times: dict = {}
    show_opening, open_main = launch.show_opening, launch.open_main

    def finish():
        print(json.dumps({"startup_probe": times}), flush=True)
        QApplication.instance().quit()

    class FirstPaint(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint and "main_window_s" not in times:
                times["main_window_s"] = round(time.time() - t0, 3)
                QTimer.singleShot(0, finish)  # after this paint has been drawn
            return False

    def timed_opening(app):
        label = show_opening(app)
        times["opening_window_s"] = round(time.time() - t0, 3)
        return label

    def timed_main(args):
        win = open_main(args)
        times["main_window_built_s"] = round(time.time() - t0, 3)
        win._startup_probe = FirstPaint(win)
        win.installEventFilter(win._startup_probe)
        return win

    launch.show_opening, launch.open_main = timed_opening, timed_main


if __name__ == "__main__":
    multiprocessing.freeze_support()
    probe = os.environ.pop("VISUAL_SEARCH_STARTUP_PROBE", None)
    if probe:
        try:
            t0 = float(probe)
        except ValueError:
            t0 = time.time()
        _install_startup_probe(t0)

    from app.main import main

    sys.exit(main())
