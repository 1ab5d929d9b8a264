"""What the window shows of the local-feature search: verified matches first with their
evidence, then a handful of other similar photos; "no match" as a plain empty state; outlines
only where the object is found; the matching points in the compare dialog; "where it matched"
heatmaps; and each duplicate's evidence."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtWidgets import QApplication

from app.models import (
    OTHERS_HEADER,
    EvidenceRole,
    HeaderRole,
    HeatRole,
    NotFoundRole,
    OutlineRole,
    ResultsModel,
    no_match_text,
)
from engine.library import OTHERS_SHOWN, Hit, SearchResult
from tests.app.helpers import window_over
from tests.helpers import MODEL


@pytest.fixture(scope="module")
def _indexed(tmp_path_factory, _photo_template):
    """The 12 generated photos plus a scene and two altered copies of it (a smaller one and a
    rotated one), indexed once; each test opens its own copy of the library."""
    from engine.library import Library
    from engine.training.generator import render_scene

    root = tmp_path_factory.mktemp("matches")
    photos = root / "photos"
    shutil.copytree(_photo_template, photos)
    (photos / "match").mkdir()
    scene, placements = render_scene([5], seed=3, size=(320, 240))
    scene.save(photos / "match" / "scene.jpg", quality=90)
    scene.resize((240, 180)).save(photos / "match" / "smaller.jpg", quality=80)
    scene.rotate(12, expand=True).save(photos / "match" / "rotated.jpg", quality=85)
    lib = Library(root / "lib", device="cpu")
    lib.index([str(photos)], model=MODEL)
    lib.close()
    return root, placements[0].box


@pytest.fixture
def win(qtbot, tmp_path, _indexed):
    root, _ = _indexed
    shutil.copytree(root / "lib", tmp_path / "lib")
    yield from window_over(qtbot, tmp_path / "lib", MODEL)


def _search(win, qtbot, path):
    sp = win.search_panel
    with qtbot.waitSignal(sp.search_finished, timeout=60_000) as done:
        sp.search(str(path))
    qtbot.waitUntil(lambda: sp.shown_path == str(path), timeout=20_000)
    return done.args[0]


def _rows(model, role):
    return [model.data(model.index(i), role) for i in range(model.rowCount())]


def _photos(indexed):
    return indexed[0] / "photos"


def _fused(hits) -> SearchResult:
    """A search's result with these ranked ``hits`` (verified or not)."""
    return SearchResult(
        query="/p/query.jpg",
        box=None,
        hits=hits,
        descriptor=np.zeros(0, np.float32),
        attention=np.zeros((1, 1), np.float32),
        input_size=(1, 1),
        original_size=(1, 1),
        model=MODEL,
        index_kind="flat",
        seconds=0.0,
        pipeline="fused",
        matches=sum(h.verified for h in hits),
    )


def test_rows_are_verified_matches_then_a_header_then_a_handful_of_others(qtbot):
    hits = [Hit(i, f"/p/v{i}.jpg", 0.9, 100, 80, inliers=40 - i, verified=True) for i in range(3)]
    hits[0].quad = [[1, 1], [50, 2], [49, 60], [2, 58]]
    hits += [Hit(10 + i, f"/p/o{i}.jpg", 0.4, 100, 80) for i in range(100)]
    rm = ResultsModel()
    rm.set_result(_fused(hits))
    assert rm.rowCount() == 3 + 1 + OTHERS_SHOWN
    assert _rows(rm, HeaderRole)[3] == OTHERS_HEADER
    assert _rows(rm, EvidenceRole)[:3] == [
        "✓ verified · 40 matching points",
        "✓ verified · 39 matching points",
        "✓ verified · 38 matching points",
    ]
    assert set(_rows(rm, EvidenceRole)[3:]) == {None}
    assert "✓ verified · 40 matching points" in rm.data(rm.index(0), Qt.ItemDataRole.ToolTipRole)
    assert "not verified" in rm.data(rm.index(4), Qt.ItemDataRole.ToolTipRole)
    assert rm.data(rm.index(4), Qt.ItemDataRole.DisplayRole).startswith("4. ")  # rank 4
    assert _rows(rm, OutlineRole)[0] == (hits[0].quad, (100, 80))  # the geometry's quad
    assert not rm.flags(rm.index(3)) & Qt.ItemFlag.ItemIsSelectable
    rm.set_result(_fused(hits[3:]))  # nothing verified
    assert rm.rowCount() == OTHERS_SHOWN and OTHERS_HEADER not in _rows(rm, HeaderRole)


def test_search_shows_verified_matches_first_with_their_outline(win, qtbot, _indexed):
    sp = win.search_panel
    res = _search(win, qtbot, _photos(_indexed) / "match" / "scene.jpg")
    m = sp.results
    evidence = _rows(m, EvidenceRole)
    assert res.matches == 2 and not res.no_match
    assert all(e.startswith("✓ verified · ") and "matching points" in e for e in evidence[:2])
    assert {p.rsplit("/", 1)[-1] for p in m.paths()[:2]} == {"smaller.jpg", "rotated.jpg"}
    assert _rows(m, HeaderRole)[2] == OTHERS_HEADER
    assert set(evidence[3:]) == {None} and 0 < m.rowCount() - 3 <= OTHERS_SHOWN
    assert sp.search_label.text().startswith("2 verified matches")
    assert not sp.empty_state.isVisible()
    for poly, (w, _h) in _rows(m, OutlineRole)[:2]:  # the query's outline found by geometry
        assert len(poly) == 4 and all(-w * 0.1 < x < w * 1.1 for x, _ in poly)
    assert set(_rows(m, OutlineRole)[2:]) == {None}
    view = sp.results_view  # the header takes a row of its own
    header, first_other = view.visualRect(m.index(2)), view.visualRect(m.index(3))
    assert header.width() > 2 * 180 and first_other.top() > header.bottom()
    view.grab()  # paints badges, outlines and the header


def test_no_match_is_a_plain_empty_state_and_a_click_outlines_only_its_object(win, qtbot, _indexed):
    sp = win.search_panel
    res = _search(win, qtbot, _photos(_indexed) / "home" / "obj1_2.jpg")
    assert res.no_match
    n = sp.results.rowCount()
    # the query is a photo of the library, left out of its own results: "other" photos
    assert sp.empty_state.isVisible() and sp.empty_state.text() == no_match_text(n, itself=True)
    assert sp.empty_state.text().startswith("No match: none of your other photos shows this (")
    assert sp.search_label.text().startswith("no match")
    assert set(_rows(sp.results, EvidenceRole)) == {None}
    assert set(_rows(sp.results, HeaderRole)) == {None}
    view = sp.query_view
    with qtbot.waitSignal(win.explain.outlines_finished, timeout=60_000) as done:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.to_widget(64, 48).toPoint())
    # the search verified nothing; the click's third stage (the photo described again around
    # the object) may still find the same object (obj1) in another photo of it, nowhere else
    found = {loc.path for loc in done.args[0] if loc.found}
    assert all(os.path.basename(p).startswith("obj1_") for p in found)
    for index in (sp.results.index(i) for i in range(sp.results.rowCount())):
        path = index.data(Qt.ItemDataRole.UserRole + 1)
        outline, mark = index.data(OutlineRole), index.data(NotFoundRole)
        assert (outline is not None) == (path in found) == (not mark)
    if not found:
        assert "the click landed on nothing the results share" in sp.search_label.text()
    else:
        assert sp.search_label.text().startswith(f"outlined the clicked object in {len(found)} of ")


def test_a_click_outlines_the_object_only_where_it_is_found(win, qtbot, _indexed):
    sp = win.search_panel
    _search(win, qtbot, _photos(_indexed) / "match" / "scene.jpg")
    x0, y0, x1, y1 = _indexed[1]  # the object in the query
    view = sp.query_view
    at = view.to_widget((x0 + x1) / 2, (y0 + y1) / 2).toPoint()
    with qtbot.waitSignal(win.explain.outlines_finished, timeout=60_000) as done:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=at)
    found = {loc.path for loc in done.args[0] if loc.found}
    outlines, marks = _rows(sp.results, OutlineRole), _rows(sp.results, NotFoundRole)
    paths = [
        sp.results.data(sp.results.index(i), Qt.ItemDataRole.UserRole + 1)
        for i in range(sp.results.rowCount())
    ]
    assert found == set(sp.results.paths()[:2])  # the two verified copies
    for path, outline, mark in zip(paths, outlines, marks, strict=True):
        if path in found:
            assert len(outline[0]) >= 3 and mark is None
        elif path is not None:  # not the header
            assert outline is None and mark
    assert sp.search_label.text().startswith("outlined the clicked object in 2 of ")
    sp.results_view.grab()


def test_compare_draws_the_matching_points(win, qtbot, _indexed):
    sp = win.search_panel
    _search(win, qtbot, _photos(_indexed) / "match" / "scene.jpg")
    verified, other = sp.results.paths()[0], sp.results.paths()[-1]
    dlg = sp.result_actions.compare(verified)
    with qtbot.waitSignal(dlg.evidence_ready, timeout=60_000) as got:
        pass
    v = got.args[0]
    assert v.verified and f"{v.inliers} matching points (verified)" in dlg.windowTitle()
    assert dlg.show_points.isVisible() and not dlg.lines.pairs
    dlg.show_points.setChecked(True)
    assert len(dlg.lines.pairs) == min(len(v.q_xy), dlg.lines.MAX_LINES) > 0
    qtbot.waitUntil(lambda: all(view.image is not None for view in dlg.views), timeout=20_000)
    dlg.grab()  # paints the lines over both photos
    dlg.show_points.setChecked(False)
    assert not dlg.lines.pairs
    dlg.close()
    dlg = sp.result_actions.compare(other)
    with qtbot.waitSignal(dlg.evidence_ready, timeout=60_000):
        pass
    assert "(not verified)" in dlg.windowTitle()
    dlg.close()


def test_where_it_matched_heatmap(win, qtbot, _indexed):
    sp, ex = win.search_panel, win.explain
    _search(win, qtbot, _photos(_indexed) / "match" / "scene.jpg")
    ex.heat_mode.setCurrentIndex(ex.heat_mode.findText("Where it matched"))
    with qtbot.waitSignal(ex.heatmaps_finished, timeout=60_000):
        ex.heat_toggle.setChecked(True)
    assert isinstance(sp.query_view.heat, QImage)
    heats = _rows(sp.results, HeatRole)
    assert all(isinstance(h, QImage) for h in heats[:2])  # the verified ones
    assert set(heats[2:]) == {None}
    sp.results_view.grab()


def test_scrolling_to_the_end_checks_more_only_while_every_checked_photo_verified(
    win, qtbot, _indexed
):
    sp = win.search_panel
    sp.page_size = 1  # check one more photo per page
    res = _search(win, qtbot, _photos(_indexed) / "match" / "scene.jpg")
    assert res.matches == 1
    pages = []
    sp.search_finished.connect(lambda r: pages.append(r.matches))
    sp.results_view.setFixedSize(400, 200)  # two columns, a row or two visible: it scrolls
    bar = sp.results_view.verticalScrollBar()

    def scroll_to_the_end():  # what a user keeps doing until nothing more comes
        bar.setValue(bar.maximum())
        view = sp.results_view.viewport()
        at = QPointF(view.rect().center())
        wheel = QWheelEvent(
            at,
            view.mapToGlobal(at),
            QPoint(0, 0),
            QPoint(0, -120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(view, wheel)
        return pages == [2, 2] and not sp.search_task.busy()

    qtbot.waitUntil(scroll_to_the_end, timeout=60_000)
    assert not sp.load_more()  # the last photo checked was not verified: nothing more
    assert sp.results.paths()[0] == res.hits[0].path  # the same ranking, longer
    assert sum(e is not None for e in _rows(sp.results, EvidenceRole)) == 2


def test_duplicates_show_each_members_evidence(qtbot):
    from app.duplicates_dialog import DuplicatesDialog

    groups = [
        [Hit(1, "/a.jpg", 1.0, inliers=80, verified=True), Hit(2, "/b.jpg", 1.0, inliers=75)],
        [Hit(3, "/c.jpg", 0.97), Hit(4, "/d.jpg", 0.96)],  # no evidence: the similarity
    ]
    dlg = DuplicatesDialog(groups)
    qtbot.addWidget(dlg)
    texts = []
    for g in range(2):
        dlg.group_list.setCurrentRow(g)
        texts += [dlg.photos.item(i).text().split("\n")[1] for i in range(2)]
    assert texts == [
        "✓ verified · 80 matching points",
        "75 matching points, not verified",
        "similarity 0.970",
        "similarity 0.960",
    ]


def test_duplicate_tiles_say_where_each_copy_is_and_how_large(qtbot):
    from app.duplicates_dialog import DuplicatesDialog

    group = [
        Hit(1, "/photos/2019/beach.jpg", 1.0, 4000, 3000, inliers=300, verified=True),
        Hit(2, "/photos/phone/IMG_1.jpg", 1.0, 1600, 1200, inliers=280, verified=True),
    ]
    dlg = DuplicatesDialog([group])
    qtbot.addWidget(dlg)
    places = [dlg.photos.item(i).text().split("\n")[2] for i in range(2)]
    assert places == ["in 2019 · 4000×3000", "in phone · 1600×1200"]


def test_the_export_is_named_after_the_query():
    from app.panels.result_actions import export_name

    assert export_name("/photos/2019/beach.jpg") == "beach-results.csv"
    assert export_name(None) == "results.csv"
