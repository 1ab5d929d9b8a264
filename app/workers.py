"""Engine work on Qt's thread pool: a ``QRunnable`` with its signals on a companion ``QObject``.

The engine function gets plain callables — ``progress(done, total, message)`` and
``should_stop()`` — never Qt objects; the worker turns them into signals, which Qt delivers
on the GUI thread. ``cancel()`` is cooperative: the engine checks ``should_stop()`` between
steps. ``TaskSlot`` keeps one task per panel: starting a new one cancels the old.
"""

from __future__ import annotations

import inspect
import threading
import traceback
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.errors import VisualSearchError


class WorkerSignals(QObject):
    progress = Signal(int, int, str)
    result = Signal(object)
    error = Signal(str, str)  # one-line message, details (traceback) to copy
    finished = Signal()


class Worker(QRunnable):
    def __init__(self, fn: Callable, *args, **kwargs) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.signals = WorkerSignals()
        self._cancel = threading.Event()
        self.done = threading.Event()
        params = inspect.signature(fn).parameters
        if "progress" in params:
            self.kwargs.setdefault("progress", self._progress)
        if "should_stop" in params:
            self.kwargs.setdefault("should_stop", self._cancel.is_set)

    def _progress(self, done: int, total: int, message: str) -> None:
        self.signals.progress.emit(int(done), int(total), str(message))

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        try:
            out = self.fn(*self.args, **self.kwargs)
        except VisualSearchError as e:
            self.signals.error.emit(str(e), "")
        except Exception as e:  # shown in a dialog; the app keeps running
            self.signals.error.emit(f"{type(e).__name__}: {e}", traceback.format_exc())
        else:
            self.signals.result.emit(out)
        finally:
            self.done.set()
            self.signals.finished.emit()


class TaskSlot(QObject):
    """At most one running task: ``start`` cancels the previous one first."""

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self.current: Worker | None = None
        self._alive: set[Worker] = set()

    def start(self, worker: Worker) -> Worker:
        self.cancel()
        self.current = worker
        self._alive.add(worker)
        worker.signals.finished.connect(lambda w=worker: self._alive.discard(w))
        self.pool.start(worker)
        return worker

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancel()

    def busy(self) -> bool:
        return self.current is not None and not self.current.done.is_set()

    def wait(self, timeout: float = 30.0) -> bool:
        """Cancel and wait for every task of this slot (used on close and in tests)."""
        self.cancel()
        return all(w.done.wait(timeout) for w in list(self._alive))
