"""Screenshots of the improve-model wizard (for ``python -m app.screenshots``): the new model and
the model in use compared side by side on the held-out verified matches.

A library of generated photos (8 objects, 3 views each) is indexed in a temporary folder, mined,
and the library's model trained on it for one short epoch on the CPU, for real.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path


def write_views(folder: Path) -> Path:
    """8 objects, 3 views each, at 480×360: enough verified pairs to mine and train on (the
    wizard's screenshots and its tests use the same photos)."""
    from engine.training import render_scene

    folder.mkdir(parents=True, exist_ok=True)
    for ident in range(8):
        for view in range(3):
            img, _ = render_scene(
                [ident],
                seed=100 * ident + view,
                size=(480, 360),
                scale=(0.5, 0.7),
                max_rotation=15,
                perspective=0.05,
            )
            img.save(folder / f"obj{ident}_{view}.jpg", quality=90)
    return folder


def wizard_shots(win, out: Path, wait: Callable, settle: Callable) -> list[Path]:
    """Render "the wizard comparing two models" (800×600 at most)."""
    from app.wizard.window import TrainingWizard
    from engine.library import Library

    root = Path(tempfile.mkdtemp(prefix="vs-shots-improve-"))
    lib = Library(root / "library", device="cpu")
    lib.index([str(write_views(root / "views"))])
    shots = []

    def save(widget, name: str) -> None:
        settle()
        path = out / f"{name}.png"
        widget.grab().save(str(path))
        shots.append(path)

    wiz = TrainingWizard(lib, None, win, workers=0, source="library")
    wiz.resize(800, 600)
    wiz.show()
    wait(wiz.mined_ready)
    wiz.mine_page.out.setText(str(root / "improved"))
    wiz.next()
    mp = wiz.method_page
    mp.epochs.setValue(1)
    mp.batch.setValue(8)
    mp.size.setValue(128)
    mp.device.setCurrentIndex(mp.device.findData("cpu"))
    wiz.next()
    wait(wiz.training_done)
    save(wiz, "12-wizard-training")
    wiz.next()
    save(wiz, "13-wizard-comparing-two-models")
    wiz.shutdown()
    wiz.hide()
    wiz.deleteLater()
    lib.close()
    return shots
