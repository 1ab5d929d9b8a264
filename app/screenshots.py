"""Render the main window's states to PNG (offscreen): ``python -m app.screenshots OUT_DIR``:
the empty window, the indexed library, a box search with its verified match outlined, the
attention heatmaps, a click outlined where found, "where it matched", the compare dialog's
matching points and a query with no match.

Uses a temporary library with the bundled sample photos, so it needs nothing but the install.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("VISUAL_SEARCH_HOME", tempfile.mkdtemp(prefix="vs-shots-"))
    import torch  # noqa: F401  - before Qt
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.gui import MainWindow
    from engine.library import Library
    from resources import sample_photos

    app = QApplication.instance() or QApplication([])
    win = MainWindow(Library(Path(os.environ["VISUAL_SEARCH_HOME"]) / "library"))
    win.resize(1280, 800)
    win.show()

    def wait(signal, ms: int = 300_000) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def settle(ms: int = 1500) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def shot(name: str) -> None:
        settle()
        path = out / f"{name}.png"
        win.grab().save(str(path))
        print(path)

    settle()
    shot("1-empty")
    win.add_samples()
    wait(win.library_panel.indexing_finished)
    shot("2-library-indexed")
    from engine.training.generator import sample_boxes

    query = str(sample_photos()[0])
    sp = win.search_panel
    sp.search(query)
    wait(sp.search_finished)
    settle()  # the query photo is on screen
    b = sample_boxes()[Path(query).name]  # a box around the object of the query
    sp.query_view.box = b
    sp.search(query, box=b, keep_photo=True)  # as if drawn: outlined where verified
    wait(sp.search_finished)
    shot("3-results")
    win.explain.heat_toggle.setChecked(True)
    wait(win.explain.heatmaps_finished)
    shot("4-heatmaps")
    win.explain.heat_toggle.setChecked(False)
    point = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)  # a click on the object
    win.search_panel.query_view.point = point
    win.explain.outline_click(point)
    wait(win.explain.outlines_finished)
    shot("5-click-outlines")
    ex = win.explain
    ex.heat_mode.setCurrentIndex(ex.heat_mode.findData("matched"))
    ex.heat_toggle.setChecked(True)
    wait(ex.heatmaps_finished)
    shot("6-where-it-matched")
    ex.heat_toggle.setChecked(False)
    ex.heat_mode.setCurrentIndex(ex.heat_mode.findData("attention"))
    verified = [h.path for h in sp.results.hits if h.verified and h.path != query]
    if verified:  # the compare dialog with the matching points drawn
        dlg = win.search_panel.compare(verified[0])
        dlg.resize(1100, 520)
        wait(dlg.evidence_ready)
        dlg.show_points.setChecked(True)
        settle(2500)
        path = out / "7-compare-matching-points.png"
        dlg.grab().save(str(path))
        print(path)
        dlg.close()
    misses = [p for p in sample_photos() if Path(p).name == "obj02_0.jpg"]
    if misses:  # a query none of the other samples shows: "no match"
        win.search_panel.search(str(misses[0]))
        wait(win.search_panel.search_finished)
        shot("8-no-match")
    dups = _duplicate_pair(Path(os.environ["VISUAL_SEARCH_HOME"]) / "copies")
    win.library_panel.index_folders([str(dups)])  # a photo and its smaller, recompressed copy
    wait(win.library_panel.indexing_finished)
    win.show_duplicates()
    wait(win.duplicates.shown)
    dialog = win.duplicates.dialog
    dialog.resize(900, 520)
    settle(2500)  # thumbnails
    path = out / "8b-duplicates.png"
    dialog.grab().save(str(path))
    print(path)
    dialog.close()
    from app.screenshots_dialogs import dialog_shots  # the wizard's report and defaults, Settings

    for path in dialog_shots(win, out, wait, settle):
        print(path)
    win.shutdown()
    app.processEvents()
    return 0


def _duplicate_pair(folder: Path) -> Path:
    """A copy of a sample photo, smaller and recompressed: a near-duplicate to show."""
    from PIL import Image

    from resources import sample_photos

    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(sample_photos()[3]) as im:
        im.convert("RGB").resize((im.width * 3 // 4, im.height * 3 // 4)).save(
            folder / "copy-of-sample.jpg", quality=70
        )
    return folder


if __name__ == "__main__":
    sys.exit(main())
