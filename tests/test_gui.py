"""The desktop window, driven through real widgets and real drag-and-drop events."""

from __future__ import annotations

import json
import os
import time

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from app.gui import MainWindow
from app.models import FoldersModel, PathRole, ResultsModel, ScoreRole
from engine.cli import main as cli_main
from engine.library import Hit, Library
from tests.conftest import MODEL


@pytest.fixture
def window(qtbot, tmp_path):
    lib = Library(tmp_path / "lib", device="cpu")
    win = MainWindow(lib, model=MODEL)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown()
    lib.close()


def _drop(window, paths):
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(50, 50)
    enter = QDragEnterEvent(
        pos, Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
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


def test_drop_folder_index_then_drop_query_matches_the_cli(window, qtbot, photos, tmp_path, capsys):
    with qtbot.waitSignal(window.indexing_finished, timeout=120_000) as blocker:
        _drop(window, [photos])
    assert blocker.args[0].indexed == 12
    qtbot.waitUntil(
        lambda: window.folders.rowCount() == 1 and window.folders.rows[0]["indexed"] == 12,
        timeout=10_000,
    )
    query = photos / "home" / "obj2_2.jpg"
    with qtbot.waitSignal(window.search_finished, timeout=60_000):
        _drop(window, [query])
    gui_paths = window.results.paths()
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
    window.results_view.viewport().update()
    qtbot.waitUntil(lambda: window.thumbnails.get(gui_paths[0]) is not None, timeout=20_000)


def test_unreadable_dropped_file_shows_an_error_and_the_app_goes_on(
    window, qtbot, photos, tmp_path
):
    with qtbot.waitSignal(window.indexing_finished, timeout=120_000):
        window.index_folders([str(photos)])
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
    with qtbot.waitSignal(window.search_finished, timeout=60_000) as ok:
        window.search(str(photos / "trips" / "obj1_0.jpg"))
    assert ok.args[0] is not None and window.results.rowCount() == 11


def test_cancel_indexing_keeps_what_was_done(window, qtbot, tmp_path):
    from engine.synth import render_scene

    many = tmp_path / "many"
    many.mkdir()
    for i in range(80):
        render_scene([i % 9], seed=i, size=(160, 120))[0].save(many / f"p{i:03d}.jpg")
    started = []
    window.progress.valueChanged.connect(lambda v: started.append(v))
    with qtbot.waitSignal(window.indexing_finished, timeout=120_000) as blocker:
        window.index_folders([str(many)])
        qtbot.waitUntil(lambda: any(v > 0 for v in started), timeout=60_000)
        assert window.cancel_button.isVisible()
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    summary = blocker.args[0]
    assert summary.cancelled and 0 < summary.indexed < 80
    assert not window.cancel_button.isVisible()
    assert "cancelled" in window.progress_label.text()


def test_event_loop_never_stalls_while_indexing_and_searching(window, qtbot, tmp_path):
    from engine.synth import render_scene

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
    with qtbot.waitSignal(window.indexing_finished, timeout=120_000):
        window.index_folders([str(photos)])
    with qtbot.waitSignal(window.search_finished, timeout=60_000):
        window.search(str(photos / "home" / "obj0_2.jpg"))
    timer.stop()
    worst = max(gaps[1:])
    print(f"longest event-loop gap: {worst * 1000:.0f} ms over {len(gaps)} ticks")
    assert worst < 0.1


def test_first_run_indexes_the_bundled_samples_then_searches(window, qtbot):
    from resources import sample_photos

    with qtbot.waitSignal(window.indexing_finished, timeout=120_000) as blocker:
        assert window.first_run()
    assert blocker.args[0].indexed == len(sample_photos()) >= 10
    assert not window.first_run()  # only once: the library is no longer empty
    with qtbot.waitSignal(window.search_finished, timeout=60_000):
        window.search(str(sample_photos()[0]))
    assert window.results.rowCount() == len(sample_photos()) - 1


def test_folder_filter_context_menu_and_export(window, qtbot, photos, tmp_path):
    import csv

    with qtbot.waitSignal(window.indexing_finished, timeout=120_000):
        window.index_folders([str(photos / "home"), str(photos / "trips")])
    qtbot.waitUntil(lambda: window.folder_filter.count() == 3, timeout=10_000)
    with qtbot.waitSignal(window.search_finished, timeout=60_000):
        window.search(str(photos / "home" / "obj0_2.jpg"))
    assert window.results.rowCount() == 11
    trips = window.folder_filter.findData(str(photos / "trips"))
    with qtbot.waitSignal(window.search_finished, timeout=60_000):
        window.folder_filter.setCurrentIndex(trips)  # re-runs the search, filtered
    assert window.results.rowCount() == 8
    assert all("/trips/" in p for p in window.results.paths())

    first = window.results.paths()[0]
    menu = window.result_actions(first)
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
    with qtbot.waitSignal(window.search_finished, timeout=60_000):
        menu.actions()[0].trigger()  # find similar to a result
    assert window.last_query == first

    window.export(str(tmp_path / "ranked.csv"))
    window.export(str(tmp_path / "ranked.json"))
    with open(tmp_path / "ranked.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == window.results.paths()
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    data = json.loads((tmp_path / "ranked.json").read_text())
    assert [r["path"] for r in data["results"]] == window.results.paths()


def _indexed_and_searched(window, qtbot, photos, query):
    with qtbot.waitSignal(window.indexing_finished, timeout=120_000):
        window.index_folders([str(photos)])
    with qtbot.waitSignal(window.search_finished, timeout=60_000):
        window.search(str(query))


def test_draw_a_box_to_search_the_region(window, qtbot, photos):
    query = photos / "home" / "obj1_2.jpg"
    _indexed_and_searched(window, qtbot, photos, query)
    view = window.query_view
    r = view.image_rect()
    a = view.to_widget(20, 15).toPoint()
    b = view.to_widget(100, 80).toPoint()
    assert r.contains(a.toPointF()) and r.contains(b.toPointF())
    with qtbot.waitSignal(window.search_finished, timeout=60_000) as blocker:
        qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=a)
        qtbot.mouseMove(view, pos=b)
        qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=b)
    res = blocker.args[0]
    x0, y0, x1, y1 = res.box
    assert abs(x0 - 20) < 3 and abs(y0 - 15) < 3 and abs(x1 - 100) < 3 and abs(y1 - 80) < 3
    assert window.last_box == view.box and window.results.rowCount() > 0


def test_heatmap_toggle_and_click_outlines(window, qtbot, photos):
    from app.models import HeatRole, OutlineRole

    query = photos / "home" / "obj2_2.jpg"
    _indexed_and_searched(window, qtbot, photos, query)
    with qtbot.waitSignal(window.heatmaps_finished, timeout=120_000):
        window.heat_toggle.setChecked(True)
    assert window.query_view.heat is not None
    first = window.results.index(0)
    assert window.results.data(first, HeatRole) is not None
    window.opacity.setValue(80)
    assert window.query_view.opacity == pytest.approx(0.8)
    window.heat_toggle.setChecked(False)
    assert window.query_view.heat is None

    view = window.query_view
    with qtbot.waitSignal(window.outlines_finished, timeout=120_000) as blocker:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.to_widget(64, 48).toPoint())
    assert view.point is not None and abs(view.point[0] - 64) < 2
    items = blocker.args[0]
    assert len(items) == window.results.rowCount()
    outlined = [
        window.results.data(window.results.index(i), OutlineRole)
        for i in range(window.results.rowCount())
    ]
    assert all(o is not None for o in outlined)
    (x0, y0, x1, y1), (w, h) = outlined[0]
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    window.results_view.grab()  # paints every delegate with outlines without error


def test_duplicates_keep_one_trash_the_other_after_confirmation(window, qtbot, photos):
    import shutil

    from app.dialogs import CompareDialog

    dup = photos / "trips" / "copy.jpg"
    shutil.copy(photos / "home" / "obj3_2.jpg", dup)
    with qtbot.waitSignal(window.indexing_finished, timeout=120_000):
        window.index_folders([str(photos)])
    with qtbot.waitSignal(window.duplicates_shown, timeout=60_000) as shown:
        window.show_duplicates(threshold=0.9999)
    dlg = shown.args[0]
    group = {
        dlg.tree.topLevelItem(0).child(i).text(0)
        for i in range(dlg.tree.topLevelItem(0).childCount())
    }
    assert group == {str(dup), str(photos / "home" / "obj3_2.jpg")}
    cmp = dlg.compare_selected()
    assert isinstance(cmp, CompareDialog) and set(cmp.paths) == group
    cmp.close()
    keep = dlg.tree.currentItem().text(0)
    other = (group - {keep}).pop()
    dlg.confirm = lambda keep, others: False  # the user says no: nothing happens
    assert dlg.keep_selected() == [] and os.path.exists(other)
    dlg.confirm = lambda keep, others: True
    assert dlg.keep_selected() == [other]
    assert not os.path.exists(other) and os.path.exists(keep)
    trash = os.path.join(os.environ["XDG_DATA_HOME"], "Trash", "files")
    assert os.path.basename(other) in os.listdir(trash)  # in the trash, not unlinked
    dlg.close()


def test_compare_with_the_query(window, qtbot, photos):
    query = photos / "home" / "obj0_2.jpg"
    _indexed_and_searched(window, qtbot, photos, query)
    first = window.results.paths()[0]
    dlg = window.compare(first)
    assert dlg.paths == (str(query), first)
    dlg.close()


def test_settings_round_trip_and_bad_files(tmp_path):
    from app.settings import Settings

    p = tmp_path / "settings.json"
    s = Settings(
        model="cider:resnet18",
        device="cpu",
        index_kind="flat",
        thumbnail_size=200,
        exclude=["/x/y"],
    )
    s.save(p)
    loaded, problem = Settings.load(p)
    assert problem is None and loaded == s
    p.write_text(json.dumps({"schema_version": 99, "model": "gem"}))
    loaded, problem = Settings.load(p)
    assert loaded == Settings() and "newer version" in problem
    p.write_text("{broken")
    loaded, problem = Settings.load(p)
    assert loaded == Settings() and "unreadable" in problem


def test_settings_dialog_applies_and_saves(window, qtbot, photos, monkeypatch, tmp_path):
    from app.settings import Settings, settings_path

    monkeypatch.setenv("VISUAL_SEARCH_HOME", str(tmp_path / "home"))
    dlg = window.open_settings()
    dlg.device.setCurrentText("cpu")
    dlg.index_kind.setCurrentText("flat")
    dlg.exclude.addItem(str(photos / "trips"))
    dlg.accept()
    assert window.settings.exclude == [str(photos / "trips")]
    assert window.library.index_kind == "flat"
    saved, _ = Settings.load(settings_path())
    assert saved.exclude == [str(photos / "trips")] and saved.device == "cpu"
    with qtbot.waitSignal(window.indexing_finished, timeout=120_000) as blocker:
        window.index_folders([str(photos)])
    assert blocker.args[0].indexed == 4  # the excluded folder stayed out


def test_training_wizard_end_to_end(window, qtbot, photos, tmp_path):
    from engine.synth import write_eval_set, write_training_set

    write_training_set(tmp_path / "data", classes=4, per_class=4, size=(80, 60))
    ev = write_eval_set(tmp_path / "eval", queries=2, positives=2, distractors=2, size=(160, 120))
    with qtbot.waitSignal(window.indexing_finished, timeout=120_000):
        window.index_folders([str(photos)])
    wiz = window.open_wizard(
        workers=0,
        train_overrides=dict(
            pretrained="none", val_fraction=0.0, arcface_margin=0.1, arcface_scale=16.0
        ),
    )
    wiz.data_page.path.setText(str(tmp_path / "data"))
    wiz.data_page.out.setText(str(tmp_path / "trained"))
    with qtbot.waitSignal(wiz.report_ready, timeout=60_000):
        wiz.next()
    assert "4 classes, 16 images" in wiz.report_page.text.toPlainText()
    wiz.report_page.eval_path.setText(ev["gnd"])
    with qtbot.waitSignal(wiz.audit_done, timeout=120_000) as audit:
        wiz.report_page.audit_button.click()
    assert audit.args[0].overlapping == {}  # disjoint objects
    wiz.next()
    mp = wiz.method_page
    assert (mp.method.currentText(), mp.backbone.currentText()) == ("cider", "resnet101")
    mp.method.setCurrentText("gem")
    mp.backbone.setCurrentText("resnet18")
    mp.size.setValue(64)
    mp.epochs.setValue(1)
    mp.batch.setValue(4)
    mp.device.setCurrentText("cpu")
    with qtbot.waitSignal(wiz.training_done, timeout=300_000) as done:
        wiz.next()
    assert done.args[0].epochs_done == 1 and wiz.train_page.curves.series["loss"]
    assert "images/s" in wiz.train_page.status.text() or "done" in wiz.train_page.status.text()
    with qtbot.waitSignal(wiz.evaluation_done, timeout=300_000) as figures:
        wiz.next()
    assert set(figures.args[0]) >= {"E", "M", "H"}  # evaluated on the audit's set
    with qtbot.waitSignal(window.indexing_finished, timeout=300_000) as reindexed:
        wiz.accept()  # "use this model" is checked
    assert reindexed.args[0].indexed == 12
    assert window.model_spec == str(tmp_path / "trained" / "model")
    assert len(window.library.store.models()) == 2  # the old vectors are still there
    wiz.shutdown()


def test_scrolling_to_the_end_loads_the_next_page(window, qtbot, photos):
    window.page_size = 4
    window.results_view.setMinimumHeight(2000)  # everything visible: no scrolling, one page
    _indexed_and_searched(window, qtbot, photos, photos / "home" / "obj3_2.jpg")
    first_page = window.results.paths()
    assert len(first_page) == 4
    lengths = []
    window.search_finished.connect(lambda res: lengths.append(len(res.hits)))
    window.results_view.setMinimumHeight(0)
    window.results_view.setFixedSize(400, 200)  # two columns, two rows visible: it scrolls
    bar = window.results_view.verticalScrollBar()

    def scroll_to_the_end():  # what a user keeps doing until nothing more comes
        bar.setValue(bar.maximum())
        return len(window.results.paths()) == 11

    qtbot.waitUntil(scroll_to_the_end, timeout=60_000)
    assert lengths == [8, 11]  # one page of 4 at a time, until the library is exhausted
    assert window.results.paths()[:4] == first_page  # the same ranking, longer
    assert not window.load_more()  # the last page was not full: nothing more to fetch


def test_every_library_button_is_on_screen(window):
    for b in (
        window.add_button,
        window.rescan_button,
        window.remove_button,
        window.errors_button,
        window.duplicates_button,
        window.train_button,
        window.settings_button,
    ):
        assert (b.isVisible() and b.accessibleName()) or b.text()
        assert window.rect().contains(b.mapTo(window, b.rect().center()))


def test_paste_an_image_or_a_file_from_the_clipboard(window, qtbot, photos):
    from PySide6.QtGui import QImage

    with qtbot.waitSignal(window.indexing_finished, timeout=120_000):
        window.index_folders([str(photos)])
    query = photos / "trips" / "obj2_0.jpg"
    QApplication.clipboard().setImage(QImage(str(query)))
    with qtbot.waitSignal(window.search_finished, timeout=60_000) as pasted:
        window.paste_query()
    assert pasted.args[0] is not None and window.results.rowCount() == 12  # not in library
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(query))])
    QApplication.clipboard().setMimeData(md)
    with qtbot.waitSignal(window.search_finished, timeout=60_000):
        window.paste_query()
    assert window.last_query == str(query) and window.results.rowCount() == 11
    # the clipboard owns what was put in it: empty it while the application still exists
    QApplication.clipboard().clear()
