"""The window's duplicates dialog over real links: a symbolic link and its target (and a hard
link) are one photo, trashing never takes the last copy, a photo outside the indexed folders
is never offered, and the confirmation names every file that goes and the one that stays. The
files go to the desktop trash (``XDG_DATA_HOME/Trash``, redirected by ``tests/conftest.py``)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from engine.training.generator import render_scene
from tests.app.helpers import answer_next_modal


def _photo_and_copy(i: int, photo: Path, copy: Path) -> None:
    img = render_scene([i, 500 + i], seed=i, size=(480, 360), occlusion=0.0)[0]
    img.save(photo, quality=92)
    img.resize((img.width * 3 // 4, img.height * 3 // 4)).save(copy, quality=80)


def _trashed() -> set[str]:
    """The original paths of everything in the desktop trash (its ``.trashinfo`` files)."""
    info = Path(os.environ["XDG_DATA_HOME"]) / "Trash" / "info"
    out = set()
    for f in info.glob("*.trashinfo") if info.is_dir() else []:
        for line in f.read_text().splitlines():
            if line.startswith("Path="):
                out.add(unquote(line[5:]))
    return out


def _duplicates(window, qtbot):
    with qtbot.waitSignal(window.duplicates.shown, timeout=120_000) as shown:
        window.show_duplicates()
    return shown.args[0]


def _items(dlg) -> list[str]:
    return [dlg.photos.item(i).toolTip().split("\n")[0] for i in range(dlg.photos.count())]


def test_a_link_and_its_target_are_one_photo_and_keep_their_file(window, qtbot, tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    a, b = photos / "a.jpg", photos / "b.jpg"
    _photo_and_copy(1, a, b)
    os.symlink("a.jpg", photos / "a_link.jpg")
    os.link(a, photos / "sub" / "a_hard.jpg")
    with qtbot.waitSignal(window.library_panel.indexing_finished, timeout=120_000):
        window.library_panel.index_folders([str(photos)])
    dlg = _duplicates(window, qtbot)
    # one group of two photos: the file (with its two other paths) and its copy
    assert dlg.group_list.count() == 1 and _items(dlg) == [str(a), str(b)]
    assert "+2 links to this file" in dlg.photos.item(0).text()
    assert str(photos / "a_link.jpg") in dlg.photos.item(0).toolTip()
    # keep the photo a link leads to: only the copy may go, and the link still works
    assert dlg.select_photo(str(a))
    seen = answer_next_modal(lambda c: c.yes.click())
    assert dlg.keep_selected() == [str(b)]
    conf = seen[0]
    assert [conf.list.item(i).text() for i in range(conf.list.count())] == [str(b)]
    assert str(a) in conf.keep_label.text()
    assert a.exists() and (photos / "a_link.jpg").resolve() == a and not b.exists()
    assert str(b) in _trashed()
    dlg.close()


def test_keeping_the_copy_moves_the_photo_with_all_its_links(window, qtbot, tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    a, b = photos / "a.jpg", photos / "b.jpg"
    _photo_and_copy(4, a, b)
    os.symlink("a.jpg", photos / "a_link.jpg")
    os.link(a, photos / "sub" / "a_hard.jpg")
    with qtbot.waitSignal(window.library_panel.indexing_finished, timeout=120_000):
        window.library_panel.index_folders([str(photos)])
    dlg = _duplicates(window, qtbot)
    assert _items(dlg) == [str(a), str(b)]
    assert dlg.select_photo(str(b))
    listed = []
    answer_next_modal(
        lambda c: (
            listed.extend(c.list.item(i).text() for i in range(c.list.count())),
            c.yes.click(),
        )
    )
    every = sorted(str(p) for p in (a, photos / "a_link.jpg", photos / "sub" / "a_hard.jpg"))
    assert sorted(dlg.keep_selected()) == every and sorted(listed) == every
    assert b.exists() and not os.path.lexists(photos / "a_link.jpg")  # no link left dangling
    assert set(every) <= _trashed()
    assert _items(dlg) == [str(b)]
    dlg.close()


def test_a_photo_outside_the_indexed_folders_is_never_offered(window, qtbot, tmp_path, monkeypatch):
    photos, outside = tmp_path / "photos", tmp_path / "outside"
    photos.mkdir()
    outside.mkdir()
    c, copy = outside / "c.jpg", photos / "c_copy.jpg"
    _photo_and_copy(3, c, copy)
    os.symlink(outside, photos / "ext")
    lib = window.library_panel
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(photos))
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000) as done:
        qtbot.mouseClick(lib.add_button, Qt.MouseButton.LeftButton)
    assert any(p.startswith(str(photos / "ext") + ": skipped") for p in done.args[0].problems)
    indexed = {r.display_path for r in window.library.store.files.ok_files()}
    assert indexed == {str(copy)}  # the link out of the folder was not followed
    lib.follow_links.setChecked(True)  # the user's choice, kept with the folder
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        qtbot.mouseClick(lib.add_button, Qt.MouseButton.LeftButton)
    assert window.library.store.files.following_links() == {os.fsencode(photos)}
    dlg = _duplicates(window, qtbot)
    inside_link = str(photos / "ext" / "c.jpg")
    assert _items(dlg) == [str(copy), inside_link]
    assert "outside the indexed folders: never trashed" in dlg.photos.item(1).text()
    # keeping the copy: the outside photo stays, and nothing is asked or moved
    assert dlg.select_photo(str(copy))
    dlg.confirm = lambda keep, others: (_ for _ in ()).throw(AssertionError("asked"))
    assert dlg.keep_selected() == []
    assert c.exists() and copy.exists()
    assert "c.jpg stays (outside the indexed folders" in dlg.warning.text()
    # keeping the outside photo: the copy inside may go, named in the confirmation
    assert dlg.select_photo(inside_link)
    dlg.confirm = dlg._ask  # the real confirmation
    seen = answer_next_modal(lambda conf: conf.no.click())
    assert dlg.keep_selected() == [] and copy.exists()
    assert [seen[0].list.item(i).text() for i in range(seen[0].list.count())] == [str(copy)]
    dlg.close()
