"""The desktop window, driven through real widgets and real drag-and-drop events: the library
panel and the search panel."""

from __future__ import annotations

import json
import os
import time

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from app.models import FoldersModel, PathRole, ResultsModel, ScoreRole
from engine.cli import main as cli_main
from engine.library import Hit
from tests.helpers import MODEL


def _drop(window, paths):
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(50, 50)
    enter = QDragEnterEvent(  # a QPoint: the only position PySide6 6.10 takes here
        QPoint(50, 50),
        Qt.DropAction.CopyAction,
        md,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        pos,
        Qt.DropAction.CopyAction,
        md,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, drop)


def test_models_are_thin_adapters(qtbot):
    rm = ResultsModel()
    rm.set_rows([Hit(1, "/a/x.jpg", 0.9), Hit(2, "/a/y.jpg", 0.5)])
    assert rm.rowCount() == 2
    assert rm.data(rm.index(1), PathRole) == "/a/y.jpg"
    assert rm.data(rm.index(0), ScoreRole) == 0.9
    assert "x.jpg" in rm.data(rm.index(0))
    fm = FoldersModel()
    fm.set_rows([{"path": "/p", "indexed": 3, "pending": 1, "failed": 0, "exists": False}])
    assert fm.rowCount() == 1 and fm.columnCount() == 4
    assert fm.data(fm.index(0, 1)) == 3 and "missing" in fm.data(fm.index(0, 0))
    home = os.path.expanduser("~")
    fm = FoldersModel(sample_folder="/opt/app/samples")
    fm.set_rows(
        [
            {"path": os.path.join(home, "Pictures", "2019"), "indexed": 1},
            {"path": "/opt/app/samples", "indexed": 12},
        ]
    )
    assert fm.data(fm.index(0, 0)) == "2019 — ~/Pictures"
    tip = fm.data(fm.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    assert tip == os.path.join(home, "Pictures", "2019")
    assert fm.data(fm.index(1, 0)) == "Sample photos"
    assert fm.data(fm.index(1, 0), PathRole) == "/opt/app/samples"


def test_drop_folder_index_then_drop_query_matches_the_cli(window, qtbot, photos, tmp_path, capsys):
    lib, sp = window.library_panel, window.search_panel
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000) as blocker:
        _drop(window, [photos])
    assert blocker.args[0].indexed == 12
    qtbot.waitUntil(
        lambda: lib.folders.rowCount() == 1 and lib.folders.rows[0]["indexed"] == 12,
        timeout=10_000,
    )
    query = photos / "home" / "obj2_2.jpg"
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        _drop(window, [query])
    gui_paths = sp.results.paths()
    assert (
        cli_main(
            [
                "search",
                str(query),
                "--library",
                str(tmp_path / "lib"),
                "-k",
                "200",
                "--json",
                "--model",
                MODEL,
            ]
        )
        == 0
    )
    cli_paths = [r["path"] for r in json.loads(capsys.readouterr().out)["results"]]
    assert gui_paths == cli_paths and len(gui_paths) == 11
    # thumbnails arrive from worker threads and repaint their rows
    sp.results_view.viewport().update()
    qtbot.waitUntil(lambda: window.thumbnails.get(gui_paths[0]) is not None, timeout=20_000)


def test_unreadable_dropped_file_shows_an_error_and_the_app_goes_on(
    window, qtbot, photos, tmp_path
):
    lib, sp = window.library_panel, window.search_panel
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(photos)])
    bad = tmp_path / "broken.jpg"
    bad.write_text("not a photo")
    with qtbot.waitSignal(window.error_shown, timeout=60_000) as err:
        _drop(window, [bad])
    assert "not a recognised image format" in err.args[0]
    boxes = [
        w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()
    ]
    assert boxes and "not a recognised image format" in boxes[-1].text()
    for b in boxes:
        b.close()
    with qtbot.waitSignal(sp.search_finished, timeout=60_000) as ok:
        sp.search(str(photos / "trips" / "obj1_0.jpg"))
    assert ok.args[0] is not None and len(sp.results.paths()) == 11


def test_cancel_indexing_keeps_what_was_done(window, qtbot, tmp_path):
    from engine.training.generator import render_scene

    lib = window.library_panel
    many = tmp_path / "many"
    many.mkdir()
    for i in range(80):
        render_scene([i % 9], seed=i, size=(160, 120))[0].save(many / f"p{i:03d}.jpg")
    started = []
    lib.progress.valueChanged.connect(lambda v: started.append(v))
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000) as blocker:
        lib.index_folders([str(many)])
        qtbot.waitUntil(lambda: any(v > 0 for v in started), timeout=60_000)
        assert lib.cancel_button.isVisible()
        qtbot.mouseClick(lib.cancel_button, Qt.MouseButton.LeftButton)
    summary = blocker.args[0]
    assert summary.cancelled and 0 < summary.indexed < 80
    assert not lib.cancel_button.isVisible()
    assert "cancelled" in lib.progress_label.text()


def test_event_loop_never_stalls_while_indexing_and_searching(window, qtbot, tmp_path):
    from engine.training.generator import render_scene

    lib, sp = window.library_panel, window.search_panel
    photos = tmp_path / "stall"
    (photos / "home").mkdir(parents=True)
    for i in range(40):
        render_scene([i % 7], seed=i, size=(320, 240))[0].save(photos / "home" / f"obj{i}_2.jpg")
    gaps = []
    last = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(photos)])
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        sp.search(str(photos / "home" / "obj0_2.jpg"))
    timer.stop()
    worst = max(gaps[1:])
    print(f"longest event-loop gap: {worst * 1000:.0f} ms over {len(gaps)} ticks")
    assert worst < 0.1


def test_an_empty_library_offers_the_samples_and_adds_them_only_when_asked(window, qtbot):
    from resources import sample_photos

    lib, sp = window.library_panel, window.search_panel
    welcome = sp.welcome
    qtbot.waitUntil(lambda: not lib._first_listing, timeout=10_000)
    assert sp.pages.currentWidget() is welcome and welcome.isVisible()
    assert welcome.samples_button.isVisible() and welcome.add_button.isVisible()
    assert not welcome.open_button.isVisible()
    assert window.library.store.files.folders() == []  # nothing was added without asking
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000) as blocker:
        qtbot.mouseClick(welcome.samples_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].indexed == len(sample_photos()) >= 10
    qtbot.waitUntil(lambda: welcome.open_button.isVisible(), timeout=10_000)
    assert not welcome.samples_button.isVisible()  # the library is no longer empty
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        sp.search(str(sample_photos()[0]))
    assert sp.pages.currentIndex() == 1
    assert len(sp.results.paths()) == len(sp.results.hits) == len(sample_photos()) - 1


def test_folder_filter_context_menu_and_export(window, qtbot, photos, tmp_path):
    import csv

    lib, sp = window.library_panel, window.search_panel
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(photos / "home"), str(photos / "trips")])
    qtbot.waitUntil(lambda: sp.folder_filter.count() == 3, timeout=10_000)
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        sp.search(str(photos / "home" / "obj0_2.jpg"))
    assert len(sp.results.paths()) == 11
    trips = sp.folder_filter.findData(str(photos / "trips"))
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        sp.folder_filter.setCurrentIndex(trips)  # re-runs the search, filtered
    assert len(sp.results.paths()) == 8
    assert all("/trips/" in p for p in sp.results.paths())

    first = sp.results.paths()[0]
    menu = sp.result_actions.menu(first)
    labels = [a.text() for a in menu.actions()]
    assert labels == [
        "Find similar",
        "Open",
        "Show in folder",
        "Copy path",
        "Compare with the query",
    ]
    menu.actions()[3].trigger()
    assert QApplication.clipboard().text() == first
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        menu.actions()[0].trigger()  # find similar to a result
    assert sp.last_query == first

    sp.result_actions.export(str(tmp_path / "ranked.csv"))
    sp.result_actions.export(str(tmp_path / "ranked.json"))
    with open(tmp_path / "ranked.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == sp.results.paths()
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    data = json.loads((tmp_path / "ranked.json").read_text())
    assert [r["path"] for r in data["results"]] == sp.results.paths()


def test_every_library_button_is_on_screen(window):
    lib = window.library_panel
    for b in (lib.add_button, lib.rescan_button, lib.remove_button, lib.errors_button):
        assert (b.isVisible() and b.accessibleName()) or b.text()
        assert window.rect().contains(b.mapTo(window, b.rect().center()))


def test_paste_an_image_or_a_file_from_the_clipboard(window, qtbot, photos):
    from PySide6.QtGui import QImage

    lib, sp = window.library_panel, window.search_panel
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(photos)])
    query = photos / "trips" / "obj2_0.jpg"
    QApplication.clipboard().setImage(QImage(str(query)))
    with qtbot.waitSignal(sp.search_finished, timeout=60_000) as pasted:
        sp.paste_query()
    assert pasted.args[0] is not None and len(sp.results.paths()) == 12  # not in library
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(query))])
    QApplication.clipboard().setMimeData(md)
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        sp.paste_query()
    assert sp.last_query == str(query) and len(sp.results.paths()) == 11
    # the clipboard owns what was put in it: empty it while the application still exists
    QApplication.clipboard().clear()
