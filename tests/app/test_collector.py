"""The garbage collector runs on the GUI thread while the window is up, never on a worker."""

from __future__ import annotations

import gc
import threading
from typing import ClassVar

from app.collector import YOUNG_AT_LEAST_S, MainThreadCollector, collect_on_main_thread


class _Cycle:
    freed_on: ClassVar[list[str]] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.freed_on.append(threading.current_thread().name)


def _make_garbage_on_a_worker() -> None:
    def work() -> None:
        for _ in range(50):
            _Cycle()
        # enough allocations of container objects to pass every generation's threshold
        junk = [[i] for i in range(100_000)]
        del junk

    t = threading.Thread(target=work, name="worker")
    t.start()
    t.join()


def test_cycles_made_on_a_worker_are_freed_on_the_gui_thread(qapp, qtbot):
    """Tests with Qt run under the collector the application installs (``tests/conftest``)."""
    assert qapp.findChild(MainThreadCollector) is not None
    assert not gc.isenabled()
    gc.collect()
    _Cycle.freed_on.clear()
    _make_garbage_on_a_worker()
    assert _Cycle.freed_on == []  # nothing collected on the worker
    # at the next tick that saw allocations, or YOUNG_AT_LEAST_S later at the latest
    qtbot.waitUntil(lambda: len(_Cycle.freed_on) == 50, timeout=int(YOUNG_AT_LEAST_S + 5) * 1000)
    assert set(_Cycle.freed_on) == {threading.main_thread().name}


def test_without_it_a_worker_would_collect(qapp):
    """The control: with automatic collection the worker's allocations free the cycles there;
    stopping the collector gives automatic collection back."""
    collector = collect_on_main_thread(qapp)
    assert collect_on_main_thread(qapp) is collector  # one per application
    assert not gc.isenabled()
    collector.stop()
    assert qapp.findChild(MainThreadCollector) is None
    assert gc.isenabled()
    gc.collect()
    _Cycle.freed_on.clear()
    _make_garbage_on_a_worker()
    assert "worker" in _Cycle.freed_on


def test_an_idle_window_hardly_collects_and_gc_stays_off(qapp, qtbot, monkeypatch):
    """Idle ticks collect nothing (a full collection walks the whole heap: a pause), and a
    library that switches automatic collection back on is overruled at the next tick."""
    made: list[int] = []
    real = gc.collect

    def collect(generation: int = 2) -> int:
        made.append(generation)
        return real(generation)

    monkeypatch.setattr(gc, "collect", collect)
    collector = MainThreadCollector(qapp, interval_ms=10)
    try:
        qtbot.wait(1_500)  # 150 ticks of an idle window
        assert len(made) <= 2 and made.count(2) <= 1
        gc.enable()
        qtbot.waitUntil(lambda: not gc.isenabled(), timeout=2_000)
    finally:
        collector.stop()
