"""A click on the query in the window: the same outline as ``visual-search localize`` gives for
the same query, click and photos; outlines drawn inside each thumbnail and over the compare
dialog's photo; a click that cannot be used (outside the searched box, beside the photo)
answered in words; and a status line that always ends in a sentence (done, cancelled, failed).

The photos are real: a real cut-out pasted into real photos at known places
(``tests/pasted.py``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPixmap

from app.models import EvidenceRole, NotFoundRole, OutlineNoteRole, OutlineRole, PathRole
from tests.app.helpers import window_over
from tests.helpers import MODEL, ROOT
from tests.pasted import pasted_photos


@pytest.fixture(scope="module")
def _pasted(tmp_path_factory):
    """The pasted photos (the query kept outside the indexed folder), indexed once."""
    from engine.library import Library

    root = tmp_path_factory.mktemp("click")
    made = pasted_photos(root / "photos")
    query = root / "query.jpg"
    shutil.move(made.query, query)
    made.query = query
    lib = Library(root / "lib", device="cpu")
    lib.index([str(root / "photos")], model=MODEL)
    lib.close()
    return root, made


@pytest.fixture
def win(qtbot, tmp_path, _pasted):
    root, _ = _pasted
    shutil.copytree(root / "lib", tmp_path / "lib")
    yield from window_over(qtbot, tmp_path / "lib", MODEL)


def _search(win, qtbot, query, box=None):
    sp = win.search_panel
    with qtbot.waitSignal(sp.search_finished, timeout=120_000):
        sp.search(str(query), box=box)
    qtbot.waitUntil(lambda: sp.shown_path == str(query), timeout=20_000)
    assert sp.results.rowCount() > 0


def _click(win, qtbot, x, y):
    """A real mouse click on the query view at photo pixel (x, y); the locations it gives."""
    view = win.search_panel.query_view
    with qtbot.waitSignal(win.explain.outlines_finished, timeout=180_000) as done:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.to_widget(x, y).toPoint())
    return done.args[0]


def _indexes(model):
    return [model.index(i) for i in range(model.rowCount())]


def _localize_cli(query, point, photos, library=None):
    """``visual-search localize QUERY --point X,Y PHOTO... --json`` in a fresh process."""
    argv = [sys.executable, "-m", "engine.cli", "localize", str(query), *map(str, photos)]
    argv += ["--point", f"{point[0]!r},{point[1]!r}", "--json", "--device", "cpu"]
    if library is not None:
        argv += ["--library", str(library), "--model", MODEL]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["path"]: r for r in json.loads(proc.stdout.strip().splitlines()[-1])["results"]}


def test_the_window_and_the_command_line_give_the_same_outline(win, qtbot, _pasted, tmp_path):
    _, made = _pasted
    _search(win, qtbot, made.query)
    locations = _click(win, qtbot, *made.point)
    point = win.search_panel.query_view.point
    assert abs(point[0] - made.point[0]) < 2 and abs(point[1] - made.point[1]) < 2
    holding = {str(p) for p, _ in made.holding}
    window = {loc.path: loc for loc in locations}
    assert holding <= {p for p, loc in window.items() if loc.found}  # the box is found
    for with_library in (True, False):
        library = tmp_path / "lib" if with_library else None
        cli = _localize_cli(made.query, point, list(window), library)
        assert set(cli) == set(window)
        for path, loc in window.items():
            got = cli[path]
            assert got["found"] == loc.found, (with_library, path, got["reason"], loc.reason)
            if loc.found:
                assert max(abs(a - b) for a, b in zip(got["box"], loc.box, strict=True)) <= 1
            else:
                assert got["box"] is None and got["reason"]


def test_outlines_lie_inside_their_thumbnails_and_over_the_compare_photo(win, qtbot, _pasted):
    _, made = _pasted
    sp = win.search_panel
    _search(win, qtbot, made.query)
    locations = _click(win, qtbot, *made.point)
    found = {loc.path: loc for loc in locations if loc.found}
    assert found
    m, view = sp.results, sp.results_view
    delegate = view.itemDelegate()
    rows = [m.index(i) for i in range(m.rowCount()) if m.index(i).data(PathRole) in found]
    qtbot.waitUntil(
        lambda: all(isinstance(i.data(Qt.ItemDataRole.DecorationRole), QPixmap) for i in rows),
        timeout=20_000,
    )
    for index in rows:
        loc = found[index.data(PathRole)]
        assert index.data(OutlineNoteRole) == f"outline {loc.confidence:.2f}"
        assert index.data(NotFoundRole) is None
        _points, (w, h) = index.data(OutlineRole)
        thumb = index.data(Qt.ItemDataRole.DecorationRole)
        r = delegate.thumbnail_rect(view.visualRect(index), thumb)
        poly = delegate.outline_in(index, r).boundingRect()
        assert r.adjusted(-1, -1, 1, 1).contains(poly) and poly.width() > 4 and poly.height() > 4
        # where the object is: the location's box, scaled into the thumbnail
        x0, y0, x1, y1 = loc.box
        expected = QRectF(
            r.x() + x0 * r.width() / w,
            r.y() + y0 * r.height() / h,
            (x1 - x0) * r.width() / w,
            (y1 - y0) * r.height() / h,
        )
        assert abs(poly.center().x() - expected.center().x()) < 2
        assert abs(poly.center().y() - expected.center().y()) < 2
    for index in (m.index(i) for i in range(m.rowCount())):
        if index.data(PathRole) not in (None, *found):  # a photo, not the header
            assert index.data(NotFoundRole).startswith("not found in this photo")
            assert "not found in this photo" in index.data(Qt.ItemDataRole.ToolTipRole)
    view.grab()

    path = next(iter(found))
    dlg = sp.result_actions.compare(path)
    big = dlg.views[1]
    qtbot.waitUntil(lambda: big.image is not None, timeout=20_000)
    assert big.outline == m.outlines[path][0]
    dlg.resize(1000, 520)
    r = big.image_rect()
    xs = [big.to_widget(x, y) for x, y in big.outline]
    assert all(r.adjusted(-1, -1, 1, 1).contains(p) for p in xs)
    back = big.to_image(QPointF(xs[0]), clamp=False)
    assert abs(back[0] - big.outline[0][0]) < 1 and abs(back[1] - big.outline[0][1]) < 1
    dlg.grab()
    dlg.close()


def test_a_click_outside_the_box_or_beside_the_photo_is_answered_in_words(win, qtbot, _pasted):
    _, made = _pasted
    sp = win.search_panel
    _search(win, qtbot, made.query, box=made.box)
    _x0, y0, x1, y1 = made.box
    outside = (x1 + 40, (y0 + y1) / 2)
    locations = _click(win, qtbot, *outside)
    assert locations and not any(loc.found for loc in locations)
    status = sp.search_label.text()
    assert status.startswith("nothing outlined: the click at (")
    assert "is outside the searched box (" in status
    photos = [i for i in _indexes(sp.results) if i.data(PathRole)]  # not the header
    assert all(i.data(NotFoundRole) is None for i in photos)  # no photo's fault
    verified = [i for i in photos if i.data(EvidenceRole)]  # they keep the search's outline
    assert verified and all(i.data(OutlineRole) is not None for i in verified)

    _search(win, qtbot, made.query)  # the whole photo; the view letterboxes it
    view = sp.query_view
    view.setFixedSize(900, 200)
    qtbot.waitUntil(lambda: view.image_rect().left() > 20)
    r = view.image_rect()
    beside = QPointF(r.left() / 2, r.center().y()).toPoint()
    with qtbot.waitSignal(win.explain.outlines_finished, timeout=60_000) as done:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=beside)
    assert view.point[0] < 0  # not moved onto the photo's edge
    assert not any(loc.found for loc in done.args[0])
    status = sp.search_label.text()
    assert "nothing outlined: the click at (" in status and "query photo" in status


def test_every_click_ends_in_a_sentence_cancelled_failed_or_too_early(win, qtbot, _pasted):
    from app.panels.explain_controls import NO_RESULT_YET
    from engine.errors import VisualSearchError

    _, made = _pasted
    sp, ex = win.search_panel, win.explain
    ex.outline_click(made.point)  # no search yet
    assert sp.search_label.text() == NO_RESULT_YET
    _search(win, qtbot, made.query)

    with qtbot.waitSignal(ex.outlines_finished, timeout=10_000) as done:
        ex.outline_click(made.point)
        assert sp.search_label.text().startswith("looking for the clicked object in ")
        win.cancel_all()  # Escape, before anything came back
    assert done.args[0] is None
    assert sp.search_label.text().startswith("outlining cancelled (")
    with qtbot.assertNotEmitted(ex.outline_notes_ready, wait=500):
        pass  # what the cancelled click still finds is dropped

    def fails(*_a, **_k):
        raise VisualSearchError("the photo store is locked")

    win.library.locate = fails
    with qtbot.waitSignal(win.error_shown, timeout=20_000):
        ex.outline_click(made.point)
    assert sp.search_label.text() == "outlining failed: the photo store is locked"
    del win.library.locate
    with qtbot.waitSignal(ex.outlines_finished, timeout=180_000):
        ex.outline_click(made.point)
    said: list[str] = []
    ex.status.connect(said.append)
    with qtbot.waitSignal(sp.search_finished, timeout=120_000):
        ex.outline_click((made.point[0] + 5, made.point[1]))
        sp.search(str(made.query))  # a new search stops the click, and says so first
    assert said[-1].startswith("outlining stopped: a new search (")
    assert sp.search_label.text() == sp.summary  # the new search's line, not a stale one
