"""The worker contract (a cancelled or superseded task's result is dropped; a stopped one's is
kept) and what the window builds on it: one task per panel, models loaded off the GUI thread."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import Qt, QThreadPool

from app.workers import TaskSlot, Worker
from tests.helpers import MODEL, indexed_and_searched


@pytest.fixture
def pool_threads():
    """Enough pool threads for a test that holds one worker blocked on purpose."""
    pool = QThreadPool.globalInstance()
    before = pool.maxThreadCount()
    pool.setMaxThreadCount(max(before, 4))
    yield
    pool.setMaxThreadCount(before)


def _fails():
    raise RuntimeError("boom")


@pytest.mark.parametrize("fn", [lambda progress: (progress(1, 1, "step"), 42)[1], _fails])
def test_a_cancelled_task_delivers_nothing_even_when_it_had_finished(qtbot, fn):
    slot = TaskSlot()
    got, finished = [], []
    w = Worker(fn)
    w.signals.progress.connect(lambda *a: got.append(("progress", a)))
    w.signals.result.connect(lambda out: got.append(("result", out)))
    w.signals.error.connect(lambda *a: got.append(("error", a)))
    w.signals.finished.connect(lambda: finished.append(True))
    slot.start(w)
    assert w.done.wait(10)  # done on its thread; its signals wait for the event loop
    slot.cancel()
    qtbot.waitUntil(lambda: finished == [True], timeout=10_000)
    assert got == [] and w.cancelled


def test_stop_keeps_what_the_engine_returns(qtbot):
    def work(should_stop):
        while not should_stop():
            time.sleep(0.005)
        return "partial"

    slot = TaskSlot()
    w = Worker(work)
    with qtbot.waitSignal(w.signals.result, timeout=10_000) as got:
        slot.start(w)
        slot.stop()
    assert got.args == ["partial"] and not w.cancelled


def test_a_new_task_supersedes_the_old_one(qtbot, pool_threads):
    release = threading.Event()
    slot = TaskSlot()
    results = []
    first = Worker(lambda: release.wait(10) and "old")
    first.signals.result.connect(results.append)
    slot.start(first)
    second = Worker(lambda: "new")
    second.signals.result.connect(results.append)
    with qtbot.waitSignal(second.signals.result, timeout=10_000):
        slot.start(second)
    with qtbot.waitSignal(first.signals.finished, timeout=10_000):
        release.set()
    assert results == ["new"] and first.cancelled
    assert slot.wait()


def test_a_slow_search_superseded_by_a_newer_one_never_replaces_its_results(
    window, qtbot, photos, monkeypatch, pool_threads
):
    lib, sp = window.library_panel, window.search_panel
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(photos)])
    real = window.library.search
    slow, fast = str(photos / "home" / "obj0_2.jpg"), str(photos / "trips" / "obj3_0.jpg")
    release = threading.Event()

    def search(query, **kwargs):
        res = real(query, **kwargs)
        if query == slow:
            assert release.wait(60)
        return res

    monkeypatch.setattr(window.library, "search", search)
    finished = []
    sp.search_finished.connect(finished.append)
    sp.search(slow)
    first = sp.search_task.current
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        sp.search(fast)
    newer = sp.results.paths()
    with qtbot.waitSignal(first.signals.finished, timeout=60_000):
        release.set()  # the old search completes now, after the newer one
    assert first.done.is_set()
    assert sp.results.paths() == newer and sp.last_result.query == fast
    assert [r.query for r in finished] == [fast]
    assert [h.path for h in real(slow, k=sp.k, model=MODEL).hits] != newer  # they do differ


def test_models_load_on_workers_not_the_gui_thread(window, qtbot, photos, monkeypatch):
    sp, explain = window.search_panel, window.explain
    indexed_and_searched(window, qtbot, photos, photos / "home" / "obj2_2.jpg")
    on_gui_thread = []
    real = window.library.model

    def model(spec=None):
        on_gui_thread.append(threading.current_thread() is threading.main_thread())
        return real(spec)

    monkeypatch.setattr(window.library, "model", model)
    window.library.configure()  # drops the loaded models
    explain.reset_model()
    with qtbot.waitSignal(explain.heatmaps_finished, timeout=120_000):
        explain.heat_toggle.setChecked(True)
    explain.heat_toggle.setChecked(False)
    view = sp.query_view
    with qtbot.waitSignal(explain.outlines_finished, timeout=120_000):
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.to_widget(64, 48).toPoint())
    assert on_gui_thread and not any(on_gui_thread)


def test_a_search_does_not_cancel_the_duplicates_scan(
    window, qtbot, photos, monkeypatch, pool_threads
):
    import shutil

    lib, sp = window.library_panel, window.search_panel
    shutil.copy(photos / "home" / "obj3_2.jpg", photos / "trips" / "copy.jpg")
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(photos)])
    real = window.library.duplicates
    release = threading.Event()

    def duplicates(**kwargs):
        assert release.wait(60)
        return real(**kwargs)

    monkeypatch.setattr(window.library, "duplicates", duplicates)
    window.show_duplicates()
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        sp.search(str(photos / "home" / "obj0_2.jpg"))
    with qtbot.waitSignal(window.duplicates.shown, timeout=60_000) as shown:
        release.set()
    assert shown.args[0].group_list.count() == 1
    shown.args[0].close()


def test_downloads_have_their_own_progress_display(window, qtbot, monkeypatch, tmp_path):
    from engine.network import weights

    lib, dl = window.library_panel, window.downloads
    release = threading.Event()
    stored = tmp_path / "resnet18-00000000.pth"

    def download(url, progress=None, should_stop=None, **kwargs):
        progress(5, 10, "downloading resnet18-00000000.pth")
        assert release.wait(30)
        return stored

    monkeypatch.setattr(weights, "download", download)
    window.download_weights(url="http://127.0.0.1:9/resnet18-00000000.pth")
    qtbot.waitUntil(lambda: dl.progress.value() == 5, timeout=10_000)
    assert dl.progress.isVisible() and dl.cancel_button.isVisible()
    assert "downloading" in dl.label.text()
    assert not lib.progress.isVisible() and lib.progress_label.text() == ""
    with qtbot.waitSignal(window.weights_downloaded, timeout=10_000) as got:
        release.set()
    assert got.args == [str(stored)] and not dl.progress.isVisible()
    assert str(stored) in dl.label.text()
