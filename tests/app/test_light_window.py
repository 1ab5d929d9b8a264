"""The window on the light install: in a fresh process where PyTorch, torchvision, Triton and
FAISS cannot be imported, the main window opens over a library, indexes, searches, draws the
attention heatmap and outlines a click; the settings list the architectures from the
torch-free catalog, greyed out with a visible one-line reason; the training wizard says in one
line what to install and cannot start — and PyTorch is never imported."""

from __future__ import annotations

import shutil

from engine.errors import TRAIN_EXTRA
from tests.helpers import ROOT, run_python

NO_TORCH_WINDOW = r"""
import json, sys
for name in ("torch", "torchvision", "triton", "faiss"):
    sys.modules[name] = None  # importing it now fails, as on an install without it

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QApplication, QWizard

app = QApplication([])


def wait(signal, start, seconds=300):
    got = []
    loop = QEventLoop()
    signal.connect(lambda *a: (got.append(a), loop.quit()))
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    start()
    if not got:
        loop.exec()
    assert got, f"no {signal} within {seconds} s"
    return got[0]


from app.gui import MainWindow
from engine.library import Library

photos, library, query = sys.argv[1:4]
lib = Library(library)  # the default model: ONNX Runtime on the CPU
win = MainWindow(lib)
win.show()
out = {}
wait(win.library_panel.indexing_finished, lambda: win.library_panel.index_folders([photos]))
sp, ex = win.search_panel, win.explain
(res,) = wait(sp.search_finished, lambda: sp.search(query))
out["best"] = res.hits[0].path if res and res.hits else None
out["matches"] = res.matches if res else None
out["status"] = sp.search_label.text()
wait(ex.heatmaps_finished, lambda: ex.heat_toggle.setChecked(True))
out["heat"] = sp.query_view.heat is not None and not sp.query_view.heat.isNull()
w, h = res.original_size
wait(ex.outlines_finished, lambda: ex.outline_click((w / 2, h / 2)))
out["click"] = sp.search_label.text()

dlg = win.open_settings()
items = [dlg.model.model().item(i) for i in range(dlg.model.count())]
out["settings"] = {
    "note": dlg.torch_note.text() if dlg.torch_note.isVisible() else None,
    "models": [(i.text(), i.isEnabled(), i.toolTip()) for i in items],
    "weights": dlg.weights_button.isEnabled(),
    "weights_tip": dlg.weights_button.toolTip(),
    "index": [
        (combo.itemData(i), combo.model().item(i).isEnabled(),
         combo.itemText(i) + " " + str(combo.itemData(i, Qt.ItemDataRole.ToolTipRole)))
        for combo in [dlg.index_kind] for i in range(combo.count())
    ],
}
dlg.reject()

wiz = win.open_wizard()
wiz.setStartId(wiz.page_id(wiz.method_page))
wiz.restart()
page = wiz.currentPage()
out["wizard"] = {
    "on_method": page is wiz.method_page,
    "notice": page.notice.text() if page.notice.isVisible() else None,
    "subtitle": wiz.data_page.subTitle(),
    "next": wiz.button(QWizard.WizardButton.NextButton).isEnabled(),
    "method_tip": page.method.toolTip(),
}
wiz.reject()
win.close()
out["heavy"] = [
    m for m in ("torch", "torchvision", "faiss") if sys.modules.get(m) is not None
]
print(json.dumps(out))
"""


def test_the_window_runs_without_torch_and_says_what_training_needs(tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(ROOT / "resources" / "samples", photos)
    query = photos / "obj00_0.jpg"
    out, proc = run_python(NO_TORCH_WINDOW, photos, tmp_path / "lib", query, timeout=900)
    assert out["heavy"] == []  # PyTorch, torchvision and FAISS never imported
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    assert out["best"].endswith("obj00_1.jpg") and out["matches"] >= 1
    assert "verified match" in out["status"]
    assert out["heat"]
    assert out["click"].startswith(("outlined the clicked object in", "nothing outlined"))

    settings = out["settings"]
    assert TRAIN_EXTRA in settings["note"] and "\n" not in settings["note"]
    names = [name for name, _on, _tip in settings["models"]]
    assert names[0] == "default" and {"cider", "gem", "ugalr"} <= set(names)
    for name, enabled, tip in settings["models"]:
        assert enabled == (name == "default")  # architectures need PyTorch
        assert name == "default" or TRAIN_EXTRA in tip  # greyed out, with the reason
    assert not settings["weights"] and TRAIN_EXTRA in settings["weights_tip"]
    index = {kind: (enabled, text) for kind, enabled, text in settings["index"]}
    assert index["auto"][0] and index["flat"][0] and "needs FAISS" in index["auto"][1]
    assert not index["hnsw"][0] and "visual-search[faiss]" in index["hnsw"][1]  # FAISS's graph

    wizard = out["wizard"]
    assert wizard["on_method"] and not wizard["next"]  # training cannot start
    assert TRAIN_EXTRA in wizard["notice"] and "\n" not in wizard["notice"]
    assert TRAIN_EXTRA in wizard["subtitle"] and TRAIN_EXTRA in wizard["method_tip"]
