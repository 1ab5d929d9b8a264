"""Render the main window's states to PNG (offscreen): ``python -m app.screenshots OUT_DIR``:
the empty window, the indexed library, a box search with its verified match outlined, the
attention heatmaps, a click outlined where found, "where it matched", the compare dialog's
matching points and a query with no match.

Uses a temporary library with the bundled sample photos, so it needs nothing but the install.
"""

from __future__ import annotations

import contextlib
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
    with contextlib.suppress(ImportError):  # where it is installed, before Qt (DLL order)
        import torch  # noqa: F401
    from PySide6.QtWidgets import QApplication

    from app.collector import collect_on_main_thread
    from app.gui import MainWindow
    from engine.library import Library

    app = QApplication.instance() or QApplication([])
    collect_on_main_thread(app)
    win = MainWindow(Library(Path(os.environ["VISUAL_SEARCH_HOME"]) / "library"))
    win.resize(1280, 800)
    win.show()
    shots = Shots(win, out)
    shots.settle()
    shots.shot("1-empty")
    shots.library()
    box = shots.results()
    shots.explained(box)
    shots.compared()
    shots.no_match()
    shots.duplicates()
    from app.screenshots_dialogs import dialog_shots  # the wizard's report and defaults, Settings
    from app.screenshots_duplicates import duplicates_both_kinds  # copies and similar shots

    print(duplicates_both_kinds(win, out, shots.wait, shots.settle))
    for path in dialog_shots(win, out, shots.wait, shots.settle):
        print(path)
    from app.screenshots_window import window_shots  # indexing, staying current, featureless…

    for path in window_shots(win, out, shots.wait, shots.settle):
        print(path)
    from app.screenshots_wizard import wizard_shots  # the wizard comparing two models

    print(*wizard_shots(win, out, shots.wait, shots.settle), sep="\n")
    win.shutdown()
    app.processEvents()
    return 0


class Shots:
    """The window's states, one step each, saved to ``out`` as they are reached."""

    def __init__(self, win, out: Path) -> None:
        self.win = win
        self.out = out
        self.query = ""  # the sample photo searched

    def wait(self, signal, ms: int = 300_000) -> None:
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def settle(self, ms: int = 1500) -> None:
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def shot(self, name: str, widget=None) -> None:
        """Save the window (or ``widget``) as ``name``.png once it has settled."""
        self.settle()
        path = self.out / f"{name}.png"
        (widget or self.win).grab().save(str(path))
        print(path)

    def library(self) -> None:
        self.win.add_samples()
        self.wait(self.win.library_panel.indexing_finished)
        self.shot("2-library-indexed")

    def results(self) -> tuple:
        """A box search around the object of a sample photo: outlined where verified."""
        from engine.training import sample_boxes
        from resources import sample_photos

        self.query = query = str(sample_photos()[0])
        sp = self.win.search_panel
        sp.search(query)
        self.wait(sp.search_finished)
        self.settle()  # the query photo is on screen
        b = sample_boxes()[Path(query).name]  # a box around the object of the query
        sp.query_view.box = b
        sp.search(query, box=b, keep_photo=True)  # as if drawn: outlined where verified
        self.wait(sp.search_finished)
        self.shot("3-results")
        return b

    def explained(self, b: tuple) -> None:
        """The attention heatmaps, a click on the object outlined, "where it matched"."""
        ex = self.win.explain
        ex.heat_toggle.setChecked(True)
        self.wait(ex.heatmaps_finished)
        self.shot("4-heatmaps")
        ex.heat_toggle.setChecked(False)
        point = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)  # a click on the object
        self.win.search_panel.query_view.point = point
        ex.outline_click(point)
        self.wait(ex.outlines_finished)
        self.shot("5-click-outlines")
        ex.heat_mode.setCurrentIndex(ex.heat_mode.findData("matched"))
        ex.heat_toggle.setChecked(True)
        self.wait(ex.heatmaps_finished)
        self.shot("6-where-it-matched")
        ex.heat_toggle.setChecked(False)
        ex.heat_mode.setCurrentIndex(ex.heat_mode.findData("attention"))

    def compared(self) -> None:
        """The compare dialog with the matching points drawn (when a result is verified)."""
        sp = self.win.search_panel
        verified = [h.path for h in sp.results.hits if h.verified and h.path != self.query]
        if not verified:
            return
        dlg = sp.result_actions.compare(verified[0])
        dlg.resize(1100, 520)
        self.wait(dlg.evidence_ready)
        dlg.show_points.setChecked(True)
        self.settle(1000)  # with shot's own settling: 2.5 s for the photos
        self.shot("7-compare-matching-points", dlg)
        dlg.close()

    def no_match(self) -> None:
        """A query none of the other samples shows: "no match"."""
        from resources import sample_photos

        misses = [p for p in sample_photos() if Path(p).name == "obj02_0.jpg"]
        if misses:
            self.win.search_panel.search(str(misses[0]))
            self.wait(self.win.search_panel.search_finished)
            self.shot("8-no-match")

    def duplicates(self) -> None:
        """A photo and its smaller, recompressed copy, as the duplicates dialog shows them."""
        win = self.win
        dups = _duplicate_pair(Path(os.environ["VISUAL_SEARCH_HOME"]) / "copies")
        win.library_panel.index_folders([str(dups)])
        self.wait(win.library_panel.indexing_finished)
        win.show_duplicates()
        self.wait(win.duplicates.shown)
        dialog = win.duplicates.dialog
        dialog.resize(900, 520)
        self.settle(1000)  # with shot's own settling: 2.5 s for the thumbnails
        self.shot("8b-duplicates", dialog)
        dialog.close()


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
