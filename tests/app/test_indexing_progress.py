"""Indexing in the window says what it is doing: scanning, the photos to describe, this run's
measured rate and the time left (``engine.tasks.Rate``), saving the index; then a summary
whose failures agree with the folder table."""

from __future__ import annotations

import itertools

from engine.library.index import indexer
from engine.tasks import Rate


class _SteadyRate(Rate):
    """This run's rate with a clock that advances one second per photo (no wall time)."""

    def __init__(self) -> None:
        ticks = itertools.count()
        super().__init__(clock=lambda: float(next(ticks)))


def test_the_progress_line_shows_the_engine_rate_and_time_left(window, qtbot, photos, monkeypatch):
    monkeypatch.setattr(indexer, "Rate", _SteadyRate)
    (photos / "broken.jpg").write_bytes(b"not a photo")
    lib = window.library_panel
    lines: list[str] = []
    bars: list[tuple[int, int]] = []

    def seen(_done, _total, _message) -> None:
        lines.append(lib.progress_label.text())
        bars.append((lib.progress.minimum(), lib.progress.maximum()))

    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000) as done:
        lib.index_folders([str(photos)])
        lib.index_task.current.signals.progress.connect(seen)
    summary = done.args[0]
    total = summary.indexed + summary.failed
    assert summary.failed == 1
    assert f"indexing: {total} photos to describe, starting" in lines
    # one photo a second on the fake clock: the window shows the engine's own figures
    assert f"indexing: 1.0 photos/s, {total - 3}s left" in lines
    assert lines[-1] == "saving the search index" and bars[-1] == (0, 0)
    qtbot.waitUntil(lambda: lib.progress_label.text().startswith("done:"), timeout=20_000)
    # the line counts the failures the table shows
    qtbot.waitUntil(lambda: any(r.get("failed") for r in lib.folders.rows), timeout=20_000)
    failed = sum(r["failed"] for r in lib.folders.rows)
    assert failed == 1 and f"{failed} failed (see Failed files…)" in lib.progress_label.text()
    assert not lib.progress.isVisible() and not lib.cancel_button.isVisible()
