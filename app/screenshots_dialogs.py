"""Screenshots of the dialogs (for ``python -m app.screenshots``): the training wizard's data
report and its method page with the defaults for this machine, and the Settings dialog."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path


def dialog_shots(win, out: Path, wait: Callable, settle: Callable) -> list[Path]:
    """Render the wizard's report and method pages and Settings at 800×600 at most."""
    from engine.training import write_training_set

    data = Path(tempfile.mkdtemp(prefix="vs-shots-train-")) / "data"
    write_training_set(data, classes=6, per_class=5, size=(160, 120))
    first = sorted(p for p in data.iterdir() if p.is_dir())[0]
    (first / "scan-0042.jpg").write_bytes(b"not a photo")  # a problem for the report to name
    shots = []

    def save(widget, name: str) -> None:
        settle()
        path = out / f"{name}.png"
        widget.grab().save(str(path))
        shots.append(path)

    wiz = win.open_wizard()
    wiz.resize(800, 600)
    wiz.data_page.path.setText(str(data))
    wiz.next()
    wait(wiz.report_ready)
    save(wiz, "9-wizard-report")
    wiz.next()
    save(wiz, "10-wizard-defaults")
    wiz.reject()
    wiz.shutdown()
    dlg = win.open_settings()
    save(dlg, "11-settings")
    dlg.reject()
    return shots
