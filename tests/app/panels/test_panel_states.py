"""What a person sees while using the window: a folder listed as soon as it is being indexed,
folders added during indexing queued rather than refused, no stale photo under a broken
query's name, error boxes that leave the window usable, failed photos in a table, a no-match
banner that names the folder filter, a plain word for an empty library, readable captions for
unverified results, status lines that follow what happened, controls enabled only with
something to act on, and the folder filter named as the library list names its folders."""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from app.dialogs import FailedPhotosDialog
from app.models import NO_PHOTOS_TEXT, PathRole, RankRole, folder_label, no_match_text
from app.panels import library_panel
from tests.app.helpers import answer_next_modal
from tests.helpers import indexed_and_searched


@pytest.fixture
def held_indexing(window, monkeypatch):
    """Indexing that pauses after its first progress message until ``release`` is set (the
    engine has registered the folder and found its photos by then)."""
    release = threading.Event()
    real = window.library.index

    def index(paths, model=None, progress=None, should_stop=None, exclude=None, **kw):
        def held(done, total, message):
            progress(done, total, message)
            if total:
                release.wait(60)

        return real(
            paths, model=model, progress=held, should_stop=should_stop, exclude=exclude, **kw
        )

    monkeypatch.setattr(window.library, "index", index)
    yield release
    release.set()


@pytest.fixture
def with_a_match(photos):
    """``photos`` plus a scene and a smaller copy of it (a verified match); returns the scene."""
    from engine.training.generator import render_scene

    (photos / "match").mkdir()
    scene, _ = render_scene([5], seed=3, size=(320, 240))
    scene.save(photos / "match" / "scene.jpg", quality=90)
    scene.resize((240, 180)).save(photos / "match" / "smaller.jpg", quality=80)
    return photos / "match" / "scene.jpg"


def _visible_boxes() -> list[QMessageBox]:
    return [
        w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()
    ]


def _close_boxes() -> None:
    for b in _visible_boxes():
        b.close()


def _row(panel, path) -> dict | None:
    return next((r for r in panel.folders.rows if r["path"] == str(path)), None)


# ---------------------------------------------------------------- 1. listed while indexing


def test_a_folder_is_listed_with_its_pending_count_while_it_is_being_indexed(
    window, qtbot, held_indexing
):
    lib, welcome = window.library_panel, window.search_panel.welcome
    samples = lib.samples_folder()
    assert samples and "library is empty" in welcome.text.text()
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        qtbot.mouseClick(welcome.samples_button, Qt.MouseButton.LeftButton)
        assert lib.index_task.busy()
        # at once, before the engine has counted anything
        assert lib.folders.rowCount() == 1
        assert lib.folders.index(0, 0).data() == "Sample photos"
        assert "library is empty" not in welcome.text.text()
        # then the engine's own row, with the photos still to index
        qtbot.waitUntil(
            lambda: (_row(lib, samples) or {}).get("pending", 0) > 0 and lib.index_task.busy(),
            timeout=60_000,
        )
        assert lib.folders.rowCount() == 1
        held_indexing.set()
    qtbot.waitUntil(lambda: (_row(lib, samples) or {}).get("pending") == 0, timeout=10_000)
    assert _row(lib, samples)["indexed"] == len(os.listdir(samples))


# ---------------------------------------------------------------- 2. queued, not refused


def test_a_folder_added_while_indexing_runs_is_queued_then_indexed(
    window, qtbot, photos, held_indexing, monkeypatch
):
    lib = window.library_panel
    errors = []
    window.error_shown.connect(errors.append)
    monkeypatch.setattr(
        library_panel.QFileDialog,
        "getExistingDirectory",
        staticmethod(lambda *a, **k: str(photos / "home")),
    )
    finished = []
    lib.indexing_finished.connect(finished.append)
    lib.index_folders([str(photos / "trips")])
    qtbot.waitUntil(lambda: lib.progress_label.text().startswith("indexing"), timeout=60_000)
    qtbot.mouseClick(lib.add_button, Qt.MouseButton.LeftButton)
    assert errors == []
    assert lib.progress_label.text().endswith("queued: home")
    held_indexing.set()
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=120_000)
    assert all(s is not None and not s.cancelled for s in finished)
    assert finished[1].indexed == 4  # the queued folder's photos
    qtbot.waitUntil(lambda: not lib.index_task.busy(), timeout=10_000)
    qtbot.waitUntil(lambda: lib.folders.rowCount() == 2, timeout=10_000)
    assert {r["path"] for r in lib.folders.rows} == {str(photos / "trips"), str(photos / "home")}
    assert "queued" not in lib.progress_label.text() and errors == []


# ---------------------------------------------------------------- 3. broken query


def test_a_broken_query_clears_the_previous_photo(window, qtbot, photos, tmp_path):
    sp = window.search_panel
    indexed_and_searched(window, qtbot, photos, photos / "trips" / "obj1_0.jpg")
    assert sp.query_view.image is not None
    bad = tmp_path / "broken.jpg"
    bad.write_text("not a photo")
    with qtbot.waitSignals([sp.search_finished, sp.photo_loader.failed], timeout=60_000):
        sp.search(str(bad))
    assert sp.query_label.text() == "Query: broken.jpg"
    assert sp.search_label.text().startswith("search failed: ")
    assert sp.query_view.image is None and sp.shown_path is None
    _close_boxes()


# ---------------------------------------------------------------- 4. non-modal boxes


def test_an_error_box_leaves_the_window_usable(window, qtbot):
    window.show_error("Something went wrong", "details to copy")
    (box,) = [b for b in _visible_boxes() if b.text() == "Something went wrong"]
    assert box.windowModality() == Qt.WindowModality.NonModal and not box.isModal()
    assert QApplication.activeModalWidget() is None  # nothing blocks the main window
    assert box.detailedText() == "details to copy"
    box.close()


def test_failed_photos_are_listed_in_a_table_with_their_reasons(window, qtbot, photos):
    lib = window.library_panel
    dialog = lib.show_errors()
    assert isinstance(dialog, FailedPhotosDialog) and dialog.isVisible()
    assert dialog.summary.text() == "No failed photos." and not dialog.table.isVisible()
    assert not [b for b in dialog.findChildren(QPushButton) if "Details" in b.text()]
    dialog.close()
    (photos / "home" / "broken.jpg").write_text("not a photo")
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(photos / "home")])
    dialog = lib.show_errors()
    assert dialog.windowModality() == Qt.WindowModality.NonModal
    assert QApplication.activeModalWidget() is None
    assert dialog.summary.text() == "1 photo could not be indexed."
    table = dialog.table
    assert table.isVisible() and table.rowCount() == 1
    headers = [table.horizontalHeaderItem(i).text() for i in range(table.columnCount())]
    assert headers == ["File", "Reason"]
    assert table.item(0, 0).text() == str(photos / "home" / "broken.jpg")
    assert table.item(0, 1).text() == window.library.errors()[0].error != ""
    dialog.close()


# ---------------------------------------------------------------- 5. no match in a folder


def test_no_match_in_a_filtered_folder_names_the_folder(window, qtbot, photos, tmp_path):
    from engine.training.generator import render_scene

    sp = window.search_panel
    query = tmp_path / "elsewhere.jpg"
    render_scene([11], seed=999, size=(128, 96))[0].save(query, quality=90)
    with qtbot.waitSignal(window.library_panel.indexing_finished, timeout=120_000):
        window.library_panel.index_folders([str(photos / "home"), str(photos / "trips")])
    qtbot.waitUntil(lambda: sp.folder_filter.count() == 3, timeout=10_000)
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        sp.search(str(query))
    assert sp.empty_state.text().startswith("No match: ")
    home = sp.folder_filter.findData(str(photos / "home"))
    assert home > 0
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        sp.folder_filter.setCurrentIndex(home)
    others = len(sp.results.hits)
    assert sp.empty_state.isVisible()
    assert sp.empty_state.text() == no_match_text(others, "home")
    assert sp.empty_state.text().startswith("No match in home: ")
    assert "All folders" in sp.empty_state.text()


# ---------------------------------------------------------------- 6. empty library


def test_searching_an_empty_library_says_to_add_a_folder(window, qtbot, photos):
    sp, welcome = window.search_panel, window.search_panel.welcome
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        sp.search(str(photos / "home" / "obj0_2.jpg"))
    assert not sp.empty_state.isVisible()
    assert "No match" not in sp.empty_state.text() + sp.search_label.text()
    assert sp.search_label.text() == NO_PHOTOS_TEXT
    assert sp.pages.currentWidget() is welcome
    assert welcome.notice.isVisible() and welcome.notice.text() == NO_PHOTOS_TEXT
    assert welcome.add_button.isVisible()
    assert not window.actions["export"].isEnabled()


# ---------------------------------------------------------------- 7. unverified captions


def test_unverified_results_say_similar_instead_of_a_meaningless_score(
    window, qtbot, photos, with_a_match
):
    sp = window.search_panel
    indexed_and_searched(window, qtbot, photos, with_a_match)
    rm = sp.results
    assert any(h.verified for h in rm.hits) and not all(h.verified for h in rm.hits)
    for row in range(rm.rowCount()):
        idx = rm.index(row)
        path = idx.data(PathRole)
        if path is None:  # the "Other similar photos" header
            continue
        h, rank = rm.hit(path), idx.data(RankRole)
        caption = idx.data(Qt.ItemDataRole.DisplayRole)
        assert f"score {h.score:.4f}" in idx.data(Qt.ItemDataRole.ToolTipRole)
        if h.verified:
            assert caption.split("\n")[0] == f"{rank}. {h.score:.3f}"
        else:
            assert caption.split("\n")[0] == f"{rank}. similar"


# ---------------------------------------------------------------- 8. status lines


def test_removing_a_folder_updates_the_library_status_line(window, qtbot, photos):
    lib = window.library_panel
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(photos / "home")])
    assert lib.progress_label.text().startswith("done: ")
    qtbot.waitUntil(lambda: lib.folders.rowCount() == 1, timeout=10_000)
    lib.folder_view.setCurrentIndex(lib.folders.index(0, 0))
    answer_next_modal(lambda box: box.button(QMessageBox.StandardButton.Yes).click())
    assert lib.remove_selected_folder()
    qtbot.waitUntil(lambda: lib.folders.rowCount() == 0, timeout=10_000)
    assert lib.progress_label.text() == "removed home from the library"


def test_the_search_summary_comes_back_after_the_heatmaps(window, qtbot, photos, with_a_match):
    sp, explain = window.search_panel, window.explain
    indexed_and_searched(window, qtbot, photos, with_a_match)
    summary = sp.search_label.text()
    assert "verified match" in summary
    progress = []
    explain.status.connect(progress.append)
    with qtbot.waitSignal(explain.heatmaps_finished, timeout=120_000):
        window.actions["heatmap"].trigger()
    assert progress and progress[-1].startswith("heatmaps: ")
    assert sp.search_label.text() == summary
    explain.status.emit("heatmaps: 3/24")  # a line that would otherwise stay
    window.actions["heatmap"].trigger()  # off
    assert not explain.heat_toggle.isChecked()
    assert sp.search_label.text() == summary


# ---------------------------------------------------------------- 9. nothing to act on


def test_library_controls_are_enabled_only_with_something_to_act_on(window, qtbot, photos):
    lib, acts = window.library_panel, window.actions
    qtbot.waitUntil(lambda: not lib._first_listing, timeout=10_000)  # the empty library listed
    assert not lib.rescan_button.isEnabled() and not acts["rescan"].isEnabled()
    assert not lib.errors_button.isEnabled() and not acts["failed"].isEnabled()
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(photos / "home")])
    qtbot.waitUntil(lambda: lib.rescan_button.isEnabled(), timeout=10_000)
    assert acts["rescan"].isEnabled()
    assert not lib.errors_button.isEnabled() and not acts["failed"].isEnabled()  # none failed
    (photos / "home" / "broken.jpg").write_text("not a photo")
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        qtbot.mouseClick(lib.rescan_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: lib.errors_button.isEnabled(), timeout=10_000)
    assert acts["failed"].isEnabled()


def test_rescan_with_a_folder_gone_updates_the_others(window, qtbot, photos):
    """A folder that is not there (an unplugged drive) is left out of a re-scan; the other
    folders are still brought up to date, and the line says what was left out."""
    lib = window.library_panel
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(photos / "home"), str(photos / "trips")])
    qtbot.waitUntil(lambda: lib.rescan_button.isEnabled(), timeout=10_000)
    (photos / "trips").rename(photos / "unplugged")
    shutil.copy(photos / "home" / "obj0_2.jpg", photos / "home" / "new.jpg")
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000) as ended:
        qtbot.mouseClick(lib.rescan_button, Qt.MouseButton.LeftButton)
    summary = ended.args[0]
    assert summary is not None and summary.indexed == 1  # home's new photo
    assert [r.endswith("trips: does not exist (left out)") for r in summary.refused] == [True]
    qtbot.waitUntil(
        lambda: "1 folder not found, left out" in lib.progress_label.text(), timeout=10_000
    )
    # the library keeps an unplugged folder's photos: results from it say they are not there
    sp = window.search_panel
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        sp.search(str(photos / "home" / "obj0_2.jpg"))
    rows = [sp.results.index(i) for i in range(sp.results.rowCount())]
    away = [i for i in rows if "/trips/" in (i.data(PathRole) or "")]
    assert away and all("· not on disk" in i.data() for i in away)
    assert all("not on disk: moved" in i.data(Qt.ItemDataRole.ToolTipRole) for i in away)


# ---------------------------------------------------------------- 10. folder filter names


def test_the_folder_filter_names_folders_as_the_library_list_does(window, qtbot, photos):
    lib, sp = window.library_panel, window.search_panel
    a, b = photos / "a", photos / "b"
    (photos / "home").rename(a)
    (photos / "trips").rename(b)
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(a), str(b)])
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.add_samples()
    qtbot.waitUntil(lambda: sp.folder_filter.count() == 4, timeout=10_000)
    sample = lib.samples_folder()
    for i in range(1, 4):
        path = sp.folder_filter.itemData(i)
        label = sp.folder_filter.itemText(i)
        assert label == folder_label(path, sample)
        shown = lib.folders.index(lib.folders.rows.index(_row(lib, path)), 0).data()
        assert label == shown
        assert sp.folder_filter.itemData(i, Qt.ItemDataRole.ToolTipRole) == path
    texts = [sp.folder_filter.itemText(i) for i in range(sp.folder_filter.count())]
    assert "Sample photos" in texts and "samples" not in texts
    assert "a" not in texts and "b" not in texts  # where they are, not just a letter
    assert folder_label(str(a)) in texts and folder_label(str(a)).startswith("a — ")
