"""The library stays current while the window is open: photos added, moved and deleted in an
indexed folder are noticed by the file-system watcher and indexed in the background, with a
notice; the "Keep the library up to date" setting turns it off."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from app.settings import Settings
from engine.training.generator import render_scene
from tests.helpers import MODEL


def _photo(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    render_scene([seed % 9], seed=seed, size=(160, 120))[0].save(path, quality=88)


@pytest.fixture
def photos(tmp_path) -> Path:
    root = tmp_path / "photos"
    for i in range(4):
        _photo(root / f"p{i}.jpg", i)
    (root / "sub").mkdir()
    return root


def _window(qtbot, tmp_path, settings: Settings):
    from app.gui import MainWindow
    from engine.library import Library

    lib = Library(tmp_path / "lib", device="cpu")
    win = MainWindow(lib, model=MODEL, settings=settings)
    qtbot.addWidget(win)
    win.show()
    return win, lib


def _indexed(qtbot, win, photos: Path) -> None:
    panel = win.library_panel
    qtbot.waitUntil(lambda: not panel._first_listing, timeout=20_000)
    with qtbot.waitSignal(panel.indexing_finished, timeout=120_000):
        panel.add_folder(str(photos))
    qtbot.waitUntil(lambda: bool(win.watcher.watcher.directories()), timeout=20_000)


def _paths(lib) -> set[str]:
    return {
        os.path.relpath(r.display_path, lib.store.files.folders()[0][1].decode())
        for r in lib.store.files.ok_files()
    }


def test_added_moved_and_deleted_photos_are_indexed_while_the_window_is_open(
    qtbot, tmp_path, photos
):
    win, lib = _window(qtbot, tmp_path, Settings(model=MODEL))
    try:
        _indexed(qtbot, win, photos)
        panel = win.library_panel
        assert sorted(win.watcher.watcher.directories()) == [str(photos), str(photos / "sub")]
        moved_id = lib.store.files.file_by_path(photos / "p1.jpg").id
        _photo(photos / "new.jpg", 20)
        shutil.move(photos / "p1.jpg", photos / "sub" / "p1.jpg")
        (photos / "p2.jpg").unlink()
        # no click: the watcher's event starts the check, the check the indexing
        with qtbot.waitSignal(panel.indexing_finished, timeout=120_000) as done:
            pass
        assert (done.args[0].moved, done.args[0].removed, done.args[0].indexed) == (1, 1, 1)
        qtbot.waitUntil(lambda: "Up to date" in panel.update_notice.text(), timeout=20_000)
        assert panel.update_notice.isVisible()
        assert "1 new, 1 moved, 1 deleted photos" in panel.update_notice.text()
        assert _paths(lib) == {"p0.jpg", "p3.jpg", "new.jpg", os.path.join("sub", "p1.jpg")}
        assert lib.store.files.file_by_path(photos / "sub" / "p1.jpg").id == moved_id
        # the folder table shows the new counts
        qtbot.waitUntil(lambda: panel.folders.rows[0].get("indexed") == 4, timeout=20_000)
    finally:
        win.shutdown()
        lib.close()


def test_changes_made_while_the_window_was_closed_are_indexed_when_it_opens(
    qtbot, tmp_path, photos
):
    from engine.library import Library

    with Library(tmp_path / "lib", device="cpu") as lib:
        lib.index([photos], model=MODEL)
    _photo(photos / "sub" / "later.jpg", 30)
    win, lib = _window(qtbot, tmp_path, Settings(model=MODEL))
    try:
        panel = win.library_panel
        qtbot.waitUntil(lambda: "Up to date" in panel.update_notice.text(), timeout=120_000)
        assert "1 new photo noticed" in panel.update_notice.text()
        assert lib.store.files.file_by_path(photos / "sub" / "later.jpg") is not None
    finally:
        win.shutdown()
        lib.close()


def test_the_setting_turns_it_off_and_on(qtbot, tmp_path, photos):
    win, lib = _window(qtbot, tmp_path, Settings(model=MODEL))
    try:
        _indexed(qtbot, win, photos)
        panel = win.library_panel
        dlg = win.open_settings()
        assert dlg.keep_up_to_date.isChecked()
        dlg.keep_up_to_date.setChecked(False)
        dlg.accept()
        assert not win.state.settings.keep_up_to_date and not win.watcher.enabled
        assert win.watcher.watcher.directories() == []
        assert Settings.load()[0].keep_up_to_date is False  # saved
        _photo(photos / "unseen.jpg", 40)
        win.watcher.check_due.emit()  # as the periodic check would
        assert panel.check_for_changes() is False and not panel.index_task.busy()
        assert lib.store.files.file_by_path(photos / "unseen.jpg") is None
        # on again: it checks at once and indexes what it missed
        dlg = win.open_settings()
        assert not dlg.keep_up_to_date.isChecked()
        dlg.keep_up_to_date.setChecked(True)
        with qtbot.waitSignal(panel.indexing_finished, timeout=120_000):
            dlg.accept()
        assert lib.store.files.file_by_path(photos / "unseen.jpg") is not None
        assert win.watcher.watcher.directories()
    finally:
        win.shutdown()
        lib.close()


def test_a_cancelled_update_keeps_what_it_did_and_says_so(qtbot, tmp_path, photos):
    win, lib = _window(qtbot, tmp_path, Settings(model=MODEL))
    try:
        _indexed(qtbot, win, photos)
        panel = win.library_panel
        notice = panel.update_notice
        notice.update_started.connect(lambda _changes: panel.cancel_indexing())  # at once
        _photo(photos / "sub" / "a.jpg", 50)
        _photo(photos / "sub" / "b.jpg", 51)
        with qtbot.waitSignal(panel.indexing_finished, timeout=120_000) as done:
            pass
        assert done.args[0].cancelled
        assert notice.text().startswith("Update cancelled at ")
        assert notice.text().endswith("(2 new photos noticed): Re-scan finishes it")
        assert panel.progress_label.text().startswith("cancelled: ")
        # what the scan found stays, waiting; Re-scan indexes it and the notice goes
        assert lib.store.files.file_by_path(photos / "sub" / "a.jpg") is not None
        notice.update_started.disconnect()
        with qtbot.waitSignal(panel.indexing_finished, timeout=120_000) as done:
            panel.rescan_button.click()
        assert not done.args[0].cancelled and done.args[0].indexed == 2
        assert not notice.isVisible() and notice.text() == ""
    finally:
        win.shutdown()
        lib.close()
