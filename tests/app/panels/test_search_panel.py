"""The query photo and what explains the results: boxes, clicks, heatmaps, outlines, the
compare dialog and near-duplicates. Photos on screen are upright (EXIF orientation applied)."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt

from tests.helpers import indexed_and_searched


def test_draw_a_box_to_search_the_region(window, qtbot, photos):
    sp = window.search_panel
    query = photos / "home" / "obj1_2.jpg"
    indexed_and_searched(window, qtbot, photos, query)
    view = sp.query_view
    r = view.image_rect()
    a = view.to_widget(20, 15).toPoint()
    b = view.to_widget(100, 80).toPoint()
    assert r.contains(a.toPointF()) and r.contains(b.toPointF())
    with qtbot.waitSignal(sp.search_finished, timeout=60_000) as blocker:
        qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=a)
        qtbot.mouseMove(view, pos=b)
        qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=b)
    res = blocker.args[0]
    x0, y0, x1, y1 = res.box
    assert abs(x0 - 20) < 3 and abs(y0 - 15) < 3 and abs(x1 - 100) < 3 and abs(y1 - 80) < 3
    assert sp.last_box == view.box and sp.results.rowCount() > 0


def test_heatmap_toggle_and_click_outlines(window, qtbot, photos):
    from app.models import HeatRole, NotFoundRole, OutlineRole

    sp = window.search_panel
    query = photos / "home" / "obj2_2.jpg"
    indexed_and_searched(window, qtbot, photos, query)
    with qtbot.waitSignal(window.explain.heatmaps_finished, timeout=120_000):
        window.explain.heat_toggle.setChecked(True)
    assert sp.query_view.heat is not None
    first = sp.results.index(0)
    assert sp.results.data(first, HeatRole) is not None
    window.explain.opacity.setValue(80)
    assert sp.query_view.opacity == pytest.approx(0.8)
    window.explain.heat_toggle.setChecked(False)
    assert sp.query_view.heat is None

    view = sp.query_view
    with qtbot.waitSignal(window.explain.outlines_finished, timeout=120_000) as blocker:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.to_widget(64, 48).toPoint())
    assert view.point is not None and abs(view.point[0] - 64) < 2
    items = blocker.args[0]
    assert len(items) == sp.results.rowCount()  # each result answered
    rows = [sp.results.index(i) for i in range(sp.results.rowCount())]
    for loc, index in zip(items, rows, strict=True):  # an outline only where found
        outline, mark = index.data(OutlineRole), index.data(NotFoundRole)
        assert (outline is not None, mark is None) == (loc.found, loc.found)
    sp.results_view.grab()  # paints every delegate with outlines or marks without error


def test_duplicates_keep_one_trash_the_other_after_confirmation(window, qtbot, photos):
    import shutil

    from app.dialogs import CompareDialog

    lib = window.library_panel
    dup = photos / "trips" / "copy.jpg"
    shutil.copy(photos / "home" / "obj3_2.jpg", dup)
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(photos)])
    with qtbot.waitSignal(window.duplicates.shown, timeout=60_000) as shown:
        window.show_duplicates()
    dlg = shown.args[0]
    assert dlg.group_list.count() == 1 and dlg.photos.count() == 2
    members = [dlg.photos.item(i) for i in range(2)]
    group = {m.toolTip() for m in members}
    assert group == {str(dup), str(photos / "home" / "obj3_2.jpg")}
    assert all("✓ verified · " in m.text() for m in members)  # its evidence
    # nothing destructive is chosen for the user
    assert not dlg.photos.selectedItems() and not dlg.keep_button.isEnabled()
    assert dlg.keep_selected() == [] and os.path.exists(dup)
    dlg.select_photo(str(photos / "home" / "obj3_2.jpg"))
    cmp = dlg.compare_selected()
    assert isinstance(cmp, CompareDialog) and set(cmp.paths) == group
    with qtbot.waitSignal(cmp.evidence_ready, timeout=60_000) as checked:
        pass
    assert checked.args[0].verified and "matching points (verified)" in cmp.windowTitle()
    cmp.close()
    keep = dlg.photos.selectedItems()[0].toolTip()
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
    sp = window.search_panel
    query = photos / "home" / "obj0_2.jpg"
    indexed_and_searched(window, qtbot, photos, query)
    first = sp.results.paths()[0]
    dlg = sp.result_actions.compare(first)
    assert dlg.paths == (str(query), first)
    dlg.close()


def _four_quarters(size=(240, 320)):
    """An upright photo whose quarters show different objects: ``(photo, {quarter: box})``."""
    from PIL import Image

    from engine.training.generator import render_scene

    w, h = size
    photo = Image.new("RGB", size)
    boxes = {}
    for i, (x, y) in enumerate([(0, 0), (w // 2, 0), (0, h // 2), (w // 2, h // 2)]):
        quarter, _ = render_scene([i], seed=100 + i, size=(w // 2, h // 2), occlusion=0.0)
        photo.paste(quarter, (x, y))
        boxes[i] = (x, y, x + w // 2, y + h // 2)
    return photo, boxes


def test_an_exif_rotated_photo_shows_upright_and_a_box_searches_the_upright_region(
    window, qtbot, photos, tmp_path
):
    import numpy as np

    from tests.helpers import save_with_orientation

    sp = window.search_panel
    upright, quarters = _four_quarters()
    path = tmp_path / "phone.jpg"
    save_with_orientation(upright, 6, path)  # stored sideways, as a phone does
    indexed_and_searched(window, qtbot, photos, path)

    view = sp.query_view
    assert (view.photo_size.width(), view.photo_size.height()) == upright.size
    shown = view.image.toImage().convertToFormat(view.image.toImage().Format.Format_RGB888)
    pixels = np.frombuffer(shown.constBits(), np.uint8).reshape(
        shown.height(), shown.bytesPerLine()
    )[:, : 3 * shown.width()]
    diff = np.abs(pixels.astype(int) - np.asarray(upright).reshape(pixels.shape)).mean()
    assert diff < 8  # the upright photo, not a rotated one

    r = view.image_rect()  # what the user sees; draw on its upper-left quarter
    a, b = (r.topLeft() + (r.center() - r.topLeft()) * 0.02), r.center()
    with qtbot.waitSignal(sp.search_finished, timeout=60_000) as searched:
        qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=a.toPoint())
        qtbot.mouseMove(view, pos=b.toPoint())
        qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=b.toPoint())
    res = searched.args[0]
    assert np.allclose(res.box, quarters[0], atol=6), res.box
    # the engine searched the upright upper-left quarter: closest to that crop of all four
    ex = window.library.model(window.state.model_spec)[0]
    crops = []
    for i, box in quarters.items():
        upright.crop(box).save(tmp_path / f"q{i}.png")
        crops.append(ex.extract_one(str(tmp_path / f"q{i}.png")).descriptor)
    sims = np.stack(crops) @ res.descriptor
    assert int(np.argmax(sims)) == 0 and sims[0] > 0.95, sims

    # the compare dialog shows it upright too
    dlg = sp.result_actions.compare(sp.results.paths()[0])
    left = dlg.findChildren(type(view))[0]
    qtbot.waitUntil(lambda: left.image is not None, timeout=20_000)
    assert (left.photo_size.width(), left.photo_size.height()) == upright.size
    dlg.close()
