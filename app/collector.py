"""Python's cyclic garbage collector, run on the GUI thread only.

Left automatic, the collector runs on whichever thread happens to allocate when a threshold is
crossed — often a worker of the thread pool in the middle of an engine call. A Qt object caught
in a reference cycle (a closed dialog, a widget of a page the wizard left) is then destroyed on
that worker thread, which Qt does not allow for widgets: the process crashes, or the GUI thread
deadlocks. So while the window is up, automatic collection is off and a timer on the GUI thread
collects in its place, by Python's own generation thresholds (``check`` says where it differs).
While the GUI thread is busy nothing is collected; what accumulated goes at the next tick.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 200
#: a tick that finds fewer new container objects than this (an idle window) collects nothing,
#: unless ``YOUNG_AT_LEAST_S`` passed since the young generation was last collected
IDLE_YOUNG = 100
YOUNG_AT_LEAST_S = 5.0
#: a full collection waits at least this many times as long as the last one took, and
#: ``FULL_AT_MOST_EVERY_S`` at the least
FULL_SPACING = 50
FULL_AT_MOST_EVERY_S = 30.0


class MainThreadCollector(QObject):
    """Collects garbage on the thread it was made on (the GUI thread) every ``interval_ms``."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._next_full = 0.0
        self._young_at = time.monotonic()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        """Collect the young generation when anything was made, the older ones as Python's
        thresholds say.

        The allocation count Python keeps falls again as objects are freed, so a tick may find
        it low while cycles wait: the young generation is collected on every tick that saw
        some allocation (cheap, and what Python would have done by then), and every
        ``YOUNG_AT_LEAST_S`` regardless. A full collection walks every object the process holds
        that ``freeze`` did not set aside (a model's, the index's), so the next one waits at
        least ``FULL_SPACING`` times as long as the last one took, and ``FULL_AT_MOST_EVERY_S``:
        the GUI thread never spends more than a few percent collecting.
        """
        if gc.isenabled():  # something turned automatic collection back on: not on workers
            gc.disable()
        counts = gc.get_count()
        now = time.monotonic()
        if counts[0] < IDLE_YOUNG and now - self._young_at < YOUNG_AT_LEAST_S:
            return
        generation = 0
        if counts[1] > self._thresholds[1]:
            generation = 1
        if counts[2] > self._thresholds[2] and now >= self._next_full:
            generation = 2
        gc.collect(generation)
        self._young_at = time.monotonic()
        if generation == 2:
            spent = self._young_at - now
            self._next_full = now + max(FULL_SPACING * spent, FULL_AT_MOST_EVERY_S)

    @staticmethod
    def freeze() -> None:
        """Set aside what exists now (modules, the model, the window) from every later
        collection: call once the application has started; full collections then walk only
        what was made since."""
        gc.collect()
        gc.freeze()

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
