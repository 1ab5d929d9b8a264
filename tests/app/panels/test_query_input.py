"""What a person gives the search: a path or a file URL pasted as text searches that file; a
path that cannot be read is answered in one line; a photo with too little detail lists
nothing and says why; file dialogs open where the last one was left."""

from __future__ import annotations

import os

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtWidgets import QApplication, QFileDialog

from app.panels.query_input import path_from_text
from tests.helpers import indexed_and_searched


def _paste_text(window, text: str) -> None:
    md = QMimeData()
    md.setText(text)
    QApplication.clipboard().setMimeData(md)
    window.actions["paste"].trigger()


@pytest.mark.parametrize("as_url", [False, True])
def test_a_pasted_path_or_file_url_searches_that_file(window, qtbot, photos, as_url):
    sp = window.search_panel
    with qtbot.waitSignal(window.library_panel.indexing_finished, timeout=120_000):
        window.library_panel.index_folders([str(photos)])
    query = photos / "home" / "obj1_2.jpg"
    text = QUrl.fromLocalFile(str(query)).toString() if as_url else f'  "{query}"\n'
    with qtbot.waitSignal(sp.search_finished, timeout=60_000) as done:
        _paste_text(window, text)
    assert done.args[0].query == str(query) and sp.last_query == str(query)
    assert sp.results.rowCount() > 0


def test_a_path_that_cannot_be_searched_is_answered_in_one_line(window, qtbot, photos, tmp_path):
    sp = window.search_panel
    _paste_text(window, str(tmp_path / "nowhere.jpg"))
    notice = sp.welcome.notice
    assert notice.isVisible() and "\n" not in notice.text()
    assert notice.text().startswith("Cannot search nowhere.jpg: no such file")
    assert not sp.search_task.busy() and sp.last_query is None
    _paste_text(window, "")
    assert notice.text() == "The clipboard holds no photo, file or path to search"
    # after a search, the answer is the status line above the results, which stay
    query = photos / "home" / "obj1_2.jpg"
    indexed_and_searched(window, qtbot, photos, query)
    n = sp.results.rowCount()
    _paste_text(window, str(photos))
    assert sp.search_label.text().startswith("photos is a folder")
    assert sp.results.rowCount() == n and sp.last_query == str(query)


def test_path_from_text_reads_what_people_copy(tmp_path, monkeypatch):
    photo = tmp_path / "a b.jpg"
    photo.write_bytes(b"x")
    assert path_from_text(f"'{photo}'") == (str(photo), "")
    assert path_from_text(f"file://{QUrl.fromLocalFile(str(photo)).path()}\nsecond") == (
        str(photo),
        "",
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    assert path_from_text("~/a b.jpg") == (str(photo), "")
    assert path_from_text("https://example.org/x.jpg")[0] is None


def test_a_grey_photo_lists_nothing_and_says_why(window, qtbot, photos, tmp_path):
    sp = window.search_panel
    indexed_and_searched(window, qtbot, photos, photos / "home" / "obj1_2.jpg")
    assert sp.results.rowCount() > 0
    grey = tmp_path / "grey.jpg"
    Image.new("RGB", (400, 300), (128, 128, 128)).save(grey)
    with qtbot.waitSignal(sp.search_finished, timeout=60_000) as done:
        sp.search(str(grey))
    assert done.args[0].too_little_detail
    assert sp.results.rowCount() == 0
    assert sp.search_label.text() == "this photo has too little detail to search"
    assert sp.empty_state.isVisible()
    assert sp.empty_state.text().startswith("This photo has too little detail to search")
    assert not window.actions["export"].isEnabled()


def test_file_dialogs_open_where_the_last_one_was_left(window, monkeypatch, photos):
    """Pictures (or home) at first; then the folder last chosen, kept in the settings."""
    seen = []

    def fake_open(_parent, _title, start, _filter=""):
        seen.append(start)
        return str(photos / "home" / "obj1_2.jpg"), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", fake_open)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: seen.append(a[2]) or "")
    sp = window.search_panel
    sp.choose_query()
    assert os.path.isdir(seen[0])
    sp.cancel()
    window.library_panel.choose_folder()
    assert seen[1] == str(photos / "home")
    assert window.state.settings.last_folder == str(photos / "home")
