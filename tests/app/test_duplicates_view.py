"""The duplicates view through real widgets: copies and similar shots in two lists with
nothing chosen for the trash, counts that follow a trash, and a search that shows its
progress and keeps what it found when stopped."""

from __future__ import annotations

import threading

from PIL import Image

from engine.library.query.duplicates import DuplicateGroup, DuplicateGroups, Member


def _files(tmp_path, names):
    out = []
    for i, n in enumerate(names):
        p = tmp_path / n
        Image.new("RGB", (64, 48), (i * 30, 90, 120)).save(p)
        out.append(str(p))
    return out


def _group(paths, kind, roots):
    hits = [Member(i + 1, p, 1.0, 64, 48, inliers=50, verified=True) for i, p in enumerate(paths)]
    return DuplicateGroup(hits, [], roots, kind)


def test_copies_and_similar_shots_are_two_lists_and_nothing_is_chosen(qtbot, tmp_path):
    from app.duplicates_dialog import DuplicatesDialog

    roots = [bytes(tmp_path)]
    a = _files(tmp_path, ["a.jpg", "a_copy.jpg"])
    s = _files(tmp_path, ["burst1.jpg", "burst2.jpg", "burst3.jpg"])
    dlg = DuplicatesDialog(
        DuplicateGroups([_group(a, "copies", roots), _group(s, "similar", roots)])
    )
    qtbot.addWidget(dlg)
    dlg.show()
    assert dlg.group_list.count() == 1 and dlg.similar_list.count() == 1
    assert "Copies" in dlg.list_titles["copies"].text()
    assert "Similar shots" in dlg.list_titles["similar"].text()
    assert not dlg.photos.selectedItems() and not dlg.keep_button.isEnabled()
    dlg.similar_list.setCurrentRow(0)
    assert dlg.photos.count() == 3 and dlg.group_list.currentRow() == -1
    assert "not copies" in dlg.warning.text()
    assert not dlg.photos.selectedItems() and not dlg.keep_button.isEnabled()


def test_the_group_counts_follow_a_trash(qtbot, tmp_path, monkeypatch):
    import os

    from app import duplicates_dialog

    roots = [bytes(tmp_path)]
    a = _files(tmp_path, ["a.jpg", "a_copy.jpg", "a_small.jpg"])
    b = _files(tmp_path, ["b.jpg", "b_copy.jpg"])
    monkeypatch.setattr(duplicates_dialog, "move_to_trash", lambda p: os.remove(p) is None)
    dlg = duplicates_dialog.DuplicatesDialog(
        [_group(a, "copies", roots), _group(b, "copies", roots)], confirm=lambda keep, go: True
    )
    qtbot.addWidget(dlg)
    assert dlg.list_titles["copies"].text().startswith("<b>Copies</b>: 2 groups")
    assert dlg.group_list.item(0).text() == "Group 1 · 3 photos"
    assert dlg.select_photo(a[0])
    assert sorted(dlg.keep_selected()) == sorted(a[1:])
    assert dlg.group_list.item(0).text() == "Group 1 · done (1 photo left)"
    assert dlg.list_titles["copies"].text().startswith("<b>Copies</b>: 1 group ")
    assert dlg.photos.count() == 1


def test_the_search_shows_its_progress_and_stop_keeps_what_was_found(window, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    paths = _files(tmp_path, ["x.jpg", "x_copy.jpg"])
    reported = threading.Event()

    def duplicates(threshold=None, model=None, should_stop=None, progress=None, similar=False):
        progress(200, 1000, "checking pairs: 12.0 pairs/s, 1m05s left")
        reported.set()
        while not should_stop():  # a long search, until the user stops it
            threading.Event().wait(0.01)
        group = _group(paths, "copies", [bytes(tmp_path)])
        return DuplicateGroups([group], checked=40, candidates=200, stopped=True)

    window.library.duplicates = duplicates
    with qtbot.waitSignal(window.duplicates.started) as started:
        window.show_duplicates()
    progress = started.args[0]
    qtbot.waitUntil(lambda: "pairs/s" in progress.label.text())
    assert "left" in progress.label.text() and progress.bar.value() == 200
    with qtbot.waitSignal(window.duplicates.shown, timeout=20_000) as shown:
        qtbot.mouseClick(progress.stop_button, Qt.MouseButton.LeftButton)
    dlg = shown.args[0]
    assert dlg.group_list.count() == 1 and dlg.photos.count() == 2
    assert dlg.summary.text().startswith("Stopped early")
    assert window.duplicates.progress is None
    dlg.close()


def test_the_screenshot_state_shows_copies_and_similar_shots(window, qtbot, tmp_path, monkeypatch):
    from app.screenshots_duplicates import duplicates_both_kinds

    monkeypatch.setenv("VISUAL_SEARCH_HOME", str(tmp_path / "home"))
    shown = []
    window.duplicates.shown.connect(shown.append)

    def wait(signal, ms: int = 180_000) -> None:
        qtbot.waitSignal(signal, timeout=ms).wait()

    path = duplicates_both_kinds(window, tmp_path, wait, qtbot.wait)
    assert path.is_file() and path.stat().st_size > 10_000
    dlg = shown[0]
    copies = [{h.path.rsplit("/", 1)[1] for h in dlg.groups[i]} for i in dlg.rows["copies"]]
    similar = [{h.path.rsplit("/", 1)[1] for h in dlg.groups[i]} for i in dlg.rows["similar"]]
    assert copies == [{"holiday.jpg", "holiday-small.jpg"}]
    assert similar == [{"burst-1.jpg", "burst-2.jpg"}]
