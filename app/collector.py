"""Python's cyclic garbage collector, run on the GUI thread only.

Left automatic, the collector runs on whichever thread happens to allocate when a threshold is
crossed — often a worker of the thread pool in the middle of an engine call. A Qt object caught
in a reference cycle (a closed dialog, a widget of a page the wizard left) is then destroyed on
that worker thread, which Qt does not allow for widgets: the process crashes, or the GUI thread
deadlocks. So while the window is up, automatic collection is off and a timer on the GUI thread
collects in its place, with the same generation thresholds Python would use.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 200
FULL_SPACING = 50


class MainThreadCollector(QObject):
    """Collects garbage on the thread it was made on (the GUI thread) every ``interval_ms``."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._next_full = 0.0
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        """Collect the young generation every tick, the older ones as Python's thresholds say.

        The allocation count Python keeps falls again as objects are freed, so a tick may find
        it low while cycles wait: the young generation is collected every tick (cheap, and what
        Python would have done by then). A full collection walks every object the process holds
        (a model's, the index's), so the next one waits at least ``FULL_SPACING`` times as long
        as the last one took: the GUI thread never spends more than a few percent collecting.
        """
        counts = gc.get_count()
        generation = 0
        if counts[1] > self._thresholds[1]:
            generation = 1
        now = time.monotonic()
        if counts[2] > self._thresholds[2] and now >= self._next_full:
            generation = 2
        gc.collect(generation)
        if generation == 2:
            self._next_full = now + FULL_SPACING * (time.monotonic() - now)

    def stop(self) -> None:
        """Back to automatic collection (when it was on before); the application lets go of it."""
        self._timer.stop()
        self.setParent(None)
        if self._was_enabled:
            gc.enable()


def collect_on_main_thread(app: QObject) -> MainThreadCollector:
    """Install the collector as a child of ``app`` (once); it lives as long as the app."""
    existing = app.findChild(MainThreadCollector)
    return existing if existing is not None else MainThreadCollector(app)
