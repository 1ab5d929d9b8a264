"""A folder removed from the library takes its photos off the screen: out of the results shown
and out of any compare view open on one of them."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from app.models import PathRole
from tests.app.helpers import answer_next_modal


def test_removing_a_folder_drops_its_photos_from_the_results_and_compare(window, qtbot, photos):
    lib, sp = window.library_panel, window.search_panel
    trips, home = photos / "trips", photos / "home"
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(trips), str(home)])
    query = home / "obj1_2.jpg"
    with qtbot.waitSignal(sp.search_finished, timeout=60_000):
        sp.search(str(query))
    shown = sp.results.paths()
    in_trips = [p for p in shown if p.startswith(str(trips) + "/")]
    in_home = [p for p in shown if p.startswith(str(home) + "/")]
    assert in_trips and in_home
    compare = sp.result_actions.compare(in_trips[0])
    assert compare.isVisible()
    row = next(
        r
        for r in range(lib.folders.rowCount())
        if lib.folders.index(r, 0).data(PathRole) == str(trips)
    )
    lib.folder_view.setCurrentIndex(lib.folders.index(row, 0))
    answer_next_modal(lambda box: box.button(QMessageBox.StandardButton.Yes).click())
    assert lib.remove_selected_folder()
    qtbot.waitUntil(lambda: lib.folders.rowCount() == 1, timeout=30_000)
    left = sp.results.paths()
    assert left == in_home  # the others stay, in their order
    assert all(isinstance(r, str) or r.path in in_home for r in sp.results.rows)
    assert not compare.isVisible()
    sp.results_view.grab()  # paints what is left without error
