"""Screenshots of the window's own states (for ``python -m app.screenshots``): indexing with its
measured rate and time left, the library keeping itself current (a photo added to an indexed
folder, noticed and indexed with no click), a featureless query, a pasted path that does not
exist, and the window with results at 800×600 and at 1920×1080."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path


def window_shots(win, out: Path, wait: Callable, settle: Callable) -> list[Path]:
    """Render each state into ``out``; returns the files written. ``win`` has searched the
    samples already (its results are on screen)."""
    from PIL import Image
    from PySide6.QtCore import QEventLoop, QMimeData, QTimer
    from PySide6.QtWidgets import QApplication

    from resources import sample_photos

    shots: list[Path] = []
    work = Path(tempfile.mkdtemp(prefix="vs-shots-window-"))
    lib, sp = win.library_panel, win.search_panel

    def save(name: str, widget=None) -> None:
        settle()
        path = out / f"{name}.png"
        (widget or win).grab().save(str(path))
        shots.append(path)

    def until(test: Callable[[], bool], ms: int = 300_000) -> None:
        loop = QEventLoop()
        timer = QTimer()
        timer.timeout.connect(lambda: test() and loop.quit())
        timer.start(50)
        QTimer.singleShot(ms, loop.quit)
        loop.exec()
        timer.stop()

    # indexing: what it does, the rate measured on this run and the time left
    folder = work / "new-photos"
    folder.mkdir()
    samples = sample_photos()
    for i in range(160):
        _crop(samples[i % len(samples)], i, folder / f"crop-{i:03d}.jpg")
    lib.index_folders([str(folder)])
    until(lambda: "photos/s" in lib.progress_label.text() or not lib.index_task.busy())
    save("win-1-indexing-rate-and-time-left")
    wait(lib.indexing_finished)

    # the library stays current: photos copied into the folder are indexed without a click
    for i in range(40):
        _crop(samples[i % len(samples)], 500 + i, folder / f"added-while-open-{i:02d}.jpg")
    until(lambda: "Noticed" in lib.update_notice.text() or "Up to date" in lib.update_notice.text())
    save("win-2-stays-current-updating")
    until(lambda: "Up to date" in lib.update_notice.text())
    save("win-3-stays-current-done")

    # a featureless query: nothing listed, and why
    grey = work / "grey-wall.jpg"
    Image.new("RGB", (800, 600), (128, 128, 128)).save(grey)
    sp.search(str(grey))
    wait(sp.search_finished)
    save("win-4-featureless-query")

    # a pasted path that does not exist: one line, the results stay
    md = QMimeData()
    md.setText(str(work / "holiday" / "IMG_0001.jpg"))
    QApplication.clipboard().setMimeData(md)
    win.actions["paste"].trigger()
    save("win-5-pasted-path-not-found")
    QApplication.clipboard().clear()  # data it owns must not outlive the application

    # results at the smallest and a large window size: names, badges and axes in full
    sp.search(str(sample_photos()[0]))
    wait(sp.search_finished)
    for w, h in ((800, 600), (1920, 1080)):
        win.resize(w, h)
        settle(1000)
        save(f"win-6-window-{w}x{h}")
    win.resize(1280, 800)
    return shots


def _crop(src: Path, seed: int, dst: Path) -> None:
    """A different 640×480 view of a sample photo (a crop at an offset ``seed`` picks)."""
    from PIL import Image

    with Image.open(src) as im:
        im = im.convert("RGB")
        w, h = im.size
        cw, ch = w * 3 // 4, h * 3 // 4
        x, y = (seed * 37) % (w - cw + 1), (seed * 23) % (h - ch + 1)
        im.crop((x, y, x + cw, y + ch)).resize((640, 480)).save(dst, quality=88)
