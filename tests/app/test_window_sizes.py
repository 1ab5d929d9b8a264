"""At 800×600 and at 1920×1080 the window shows folder names (the full path as tooltip),
verified badges in full on portrait thumbnails, and result names elided in the middle."""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtGui import QFontMetrics

from app.views import elide_lines, tag_rect


@pytest.mark.parametrize("size", [(800, 600), (1920, 1080)])
def test_folder_names_keep_their_room(window, qtbot, photos, size):
    lib = window.library_panel
    (photos / "broken.jpg").write_bytes(b"not a photo")
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(photos)])
    qtbot.waitUntil(lambda: bool(lib.folders.rows) and lib.folders.rows[0]["failed"] == 1)
    window.resize(*size)
    qtbot.wait(50)
    assert (window.width(), window.height()) == size
    view = lib.folder_view
    assert view.isColumnHidden(2) and not view.isColumnHidden(3)  # no pending, one failed
    index = lib.folders.index(0, 0)
    fm = QFontMetrics(view.font())
    name = os.path.basename(str(photos))
    assert view.columnWidth(0) >= fm.horizontalAdvance(f"{name} — ") + 12
    assert index.data(Qt.ItemDataRole.ToolTipRole) == str(photos)


def test_the_window_does_not_shrink_below_the_size_its_layout_is_made_for(window, qtbot):
    window.resize(500, 350)
    qtbot.wait(50)
    assert (window.width(), window.height()) == (800, 480)


def test_a_badge_on_a_portrait_thumbnail_keeps_its_words(qapp):
    fm = QFontMetrics(qapp.font())
    cell = QRectF(QRect(0, 0, 180, 170))
    portrait = QRectF(60, 6, 60, 128)  # a 3:8 photo fitted in the cell
    text = "✓ verified · 308 points"
    rect, shown = tag_rect(portrait, text, fm, True, cell)
    assert shown == text and cell.contains(rect)
    assert rect.width() > portrait.width()  # it reaches past the photo's edge
    # a label too long for the whole cell is elided, and stays in it
    rect, shown = tag_rect(portrait, text * 4, fm, False, cell)
    assert shown.endswith("…") and cell.contains(rect)


def test_result_names_are_elided_in_the_middle(qapp):
    fm = QFontMetrics(qapp.font())
    caption = "3. similar\nportrait_with_a_rather_long_file_name_of_a_tree_1.jpg"
    first, second = elide_lines(caption, fm, 160).split("\n")
    assert first == "3. similar"
    assert second.startswith("portrait") and second.endswith("_1.jpg") and "…" in second
    assert fm.horizontalAdvance(second) <= 160
