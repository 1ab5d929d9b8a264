"""Engine work on Qt's thread pool: a ``QRunnable`` with its signals on a companion ``QObject``.

The engine function gets plain callables — ``progress(done, total, message)`` and
``should_stop()`` — never Qt objects; the worker turns them into signals, which Qt delivers
on the GUI thread.

The contract (superqt's ``WorkerBase``, Orange's ``ConcurrentMixin``):

- ``stop()`` asks the engine to stop between steps (``should_stop()`` turns true); whatever
  the engine returns is still delivered. Indexing and training return a partial result marked
  ``cancelled``, which is what their Cancel buttons show.
- ``cancel()`` also stops, and drops the task: its ``progress``, ``result`` and ``error`` are
  never delivered, even if it had already finished on its thread — the check is made on the
  GUI thread when the signal arrives, so nothing queued before the cancel slips through.
  ``finished`` is always delivered.
- ``TaskSlot`` holds one task per panel: ``start`` cancels the previous task, so a superseded
  search never replaces the results of a newer one.
"""

from __future__ import annotations

import inspect
import threading
import traceback
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

from engine.errors import VisualSearchError

#: workers started and not yet finished on the GUI side; keeps them alive while they run
_RUNNING: dict[int, Worker] = {}  # id(worker.signals) → worker


class WorkerSignals(QObject):
    """What a worker reports, delivered on the GUI thread (this object lives there).

    The worker thread emits the private ``_raw_*`` signals; the slots here relay them to the
    public ones unless the task was cancelled meanwhile. It holds no reference to its worker
    (no cycle for the garbage collector to break on some other thread).
    """

    progress = Signal(int, int, str)
    result = Signal(object)
    error = Signal(str, str)  # one-line message, details (traceback) to copy
    finished = Signal()

    _raw_progress = Signal(int, int, str)
    _raw_result = Signal(object)
    _raw_error = Signal(str, str)
    _raw_finished = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.cancelled = False  # read and written on the GUI thread only
        self._raw_progress.connect(self._relay_progress)
        self._raw_result.connect(self._relay_result)
        self._raw_error.connect(self._relay_error)
        self._raw_finished.connect(self._relay_finished)

    @Slot(int, int, str)
    def _relay_progress(self, done: int, total: int, message: str) -> None:
        if not self.cancelled:
            self.progress.emit(done, total, message)

    @Slot(object)
    def _relay_result(self, out: object) -> None:
        if not self.cancelled:
            self.result.emit(out)

    @Slot(str, str)
    def _relay_error(self, message: str, details: str) -> None:
        if not self.cancelled:
            self.error.emit(message, details)

    @Slot()
    def _relay_finished(self) -> None:
        self.finished.emit()
        # let go of the worker after this event: deleting this object while it delivers one
        # of its own signals could crash
        key = id(self)
        QTimer.singleShot(0, lambda: _RUNNING.pop(key, None))


class Worker(QRunnable):
    """Runs ``fn(*args, **kwargs)`` once; ``progress`` and ``should_stop`` are passed to ``fn``
    when it has parameters of those names."""

    def __init__(self, fn: Callable, *args, **kwargs) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.signals = WorkerSignals()
        self._stop = threading.Event()
        self.done = threading.Event()
        #: set once ``run`` has emitted its last signal: waiting for this before the window
        #: and the application go away leaves no thread emitting into destroyed objects
        self.exited = threading.Event()
        params = inspect.signature(fn).parameters
        if "progress" in params:
            # not a bound method of this worker: that would make a reference cycle, which
            # only the garbage collector frees, on whatever thread it runs — and deleting
            # the signals' QObject from a worker thread can deadlock the GUI thread
            raw = self.signals._raw_progress

            def progress(done: int, total: int, message: str) -> None:
                raw.emit(int(done), int(total), str(message))

            self.kwargs.setdefault("progress", progress)
        if "should_stop" in params:
            self.kwargs.setdefault("should_stop", self._stop.is_set)

    def stop(self) -> None:
        """Ask the engine to stop early; its (partial) result is still delivered."""
        self._stop.set()

    def cancel(self) -> None:
        """Stop and drop: nothing but ``finished`` is delivered from now on."""
        self.signals.cancelled = True
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        return self.signals.cancelled

    def start(self, pool: QThreadPool | None = None) -> Worker:
        """Run on ``pool`` (Qt's global pool by default); kept alive until it has finished."""
        _RUNNING[id(self.signals)] = self
        (pool or QThreadPool.globalInstance()).start(self)
        return self

    def run(self) -> None:
        try:
            out = self.fn(*self.args, **self.kwargs)
        except VisualSearchError as e:
            self.signals._raw_error.emit(str(e), "")
        except Exception as e:  # shown in a dialog; the app keeps running
            self.signals._raw_error.emit(f"{type(e).__name__}: {e}", traceback.format_exc())
        else:
            self.signals._raw_result.emit(out)
        finally:
            self.done.set()
            self.signals._raw_finished.emit()
            self.exited.set()


class TaskSlot(QObject):
    """At most one task: ``start`` cancels the previous one, whose result is then dropped."""

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self.current: Worker | None = None
        self._alive: set[Worker] = set()

    def start(self, worker: Worker) -> Worker:
        self.cancel()
        self._alive = {w for w in self._alive if not w.done.is_set()}
        self.current = worker
        self._alive.add(worker)
        return worker.start(self.pool)

    def cancel(self) -> None:
        """Cancel the current task: it stops early and its result is dropped."""
        if self.current is not None:
            self.current.cancel()

    def stop(self) -> None:
        """Ask the current task to stop early; what it returns is still delivered."""
        if self.current is not None:
            self.current.stop()

    def busy(self) -> bool:
        return self.current is not None and not self.current.done.is_set()

    def wait(self, timeout: float = 30.0) -> bool:
        """Cancel and wait for every task of this slot (used on close and in tests)."""
        self.cancel()
        return all(w.exited.wait(timeout) for w in list(self._alive))


def wait_all(timeout: float = 30.0) -> bool:
    """Wait for every running worker (tests and shutdown) to have emitted its last signal;
    cancels none."""
    return all(w.exited.wait(timeout) for w in list(_RUNNING.values()))
