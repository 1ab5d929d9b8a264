"""The improve-model wizard as a window beside the main one: never modal, the main window
searches while it trains, the model it makes appears at once in an open Settings dialog, one
Cancel per page, file dialogs that open in Pictures or the last folder chosen, curves with
axes, and workers freed on the GUI thread."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest
from PySide6.QtWidgets import QApplication, QPushButton

from tests.app.helpers import next_button, window_over
from tests.app.wizard.test_improve_pages import open_library, views_library  # noqa: F401
from tests.helpers import MODEL


def cancel_buttons(wiz) -> list[str]:
    """The visible buttons reading "Cancel" in the wizard's window (its page and its own)."""
    return [
        b.text()
        for b in wiz.findChildren(QPushButton)
        if b.isVisible() and b.text().replace("&", "") == "Cancel"
    ]


@pytest.fixture
def views_window(qtbot, tmp_path, views_library):  # noqa: F811
    """The main window over the indexed views library (8 objects × 3 views)."""
    root = views_library.dir
    views_library.close()
    yield from window_over(qtbot, root, MODEL)


@pytest.fixture
def held_step(monkeypatch):
    """Training's steps wait for ``go_on`` (set by the test); ``in_step`` says one began."""
    from engine.training.objective import TrainModule

    in_step, go_on = threading.Event(), threading.Event()
    real = TrainModule.forward

    def forward(self, x, y):
        in_step.set()
        if not go_on.wait(300):
            raise RuntimeError("the test never let training go on")
        return real(self, x, y)

    monkeypatch.setattr(TrainModule, "forward", forward)
    yield in_step, go_on
    go_on.set()


def test_the_main_window_searches_while_the_wizard_trains_and_settings_lists_the_model(
    qtbot, views_window, no_gpu, tmp_path, held_step
):
    win = views_window
    in_step, go_on = held_step
    wiz = win.open_wizard(source="library", workers=0, train_overrides=dict(pretrained="none"))
    try:
        assert wiz.isVisible() and not wiz.isModal()
        assert QApplication.activeModalWidget() is None  # the main window takes input
        qtbot.waitUntil(lambda: wiz.mine_page.improvement is not None, timeout=240_000)
        assert cancel_buttons(wiz) == ["Cancel"]  # the page's; the window's own is "Close"
        out = tmp_path / "elsewhere"  # outside the models folder: listed all the same
        wiz.mine_page.out.setText(str(out))
        settings = win.open_settings()  # open while the wizard works
        assert str(out / "model") not in settings.trained_models()
        next_button(wiz).click()
        mp = wiz.method_page
        mp.epochs.setValue(1)
        mp.batch.setValue(8)
        mp.size.setValue(96)
        with qtbot.waitSignal(wiz.training_done, timeout=300_000) as done:
            next_button(wiz).click()
            assert cancel_buttons(wiz) == ["Cancel"]
            # training holds its thread (in its first step) until the search is answered
            qtbot.waitUntil(in_step.is_set, timeout=300_000)
            query = sorted(p for p in (tmp_path / "views").iterdir())[0]
            with qtbot.waitSignal(win.search_panel.search_finished, timeout=120_000) as found:
                win.search_panel.search(str(query))  # a main-window action meanwhile
            assert found.args[0] is not None and found.args[0].hits
            assert wiz.train_page.task.busy()  # the search did not wait for training
            go_on.set()
        assert done.args[0].epochs_done == 1
        # the Settings dialog already open lists the new model at once; a new one too
        assert str(out / "model") in settings.trained_models()
        settings.reject()
        again = win.open_settings()
        assert str(out / "model") in again.trained_models()
        again.reject()
    finally:
        wiz.shutdown()


def test_settings_lists_the_models_in_the_models_folder(qtbot, tmp_path, monkeypatch):
    from app.settings import Settings
    from app.settings_dialog import SettingsDialog
    from engine.network.checkpoint import save_checkpoint
    from engine.paths import models_dir

    run = models_dir() / f"run-{tmp_path.name}"
    save_checkpoint(_tiny_model(), run / "model")
    (models_dir() / "not-a-model").mkdir(parents=True, exist_ok=True)
    dlg = SettingsDialog(Settings())
    qtbot.addWidget(dlg)
    listed = dlg.trained_models()
    assert str(run / "model") in listed
    assert not any(p.endswith("not-a-model") for p in listed)
    i = dlg.model.findText(str(run / "model"))
    tip = f"A checkpoint folder: a model you trained, in {run / 'model'}"
    assert dlg.model.itemData(i, 3) == tip  # its tooltip
    dlg.model.setCurrentIndex(i)
    assert dlg.model_help.text() == tip


def _tiny_model():
    from engine.network.config import ModelConfig
    from engine.network.models import create_model

    return create_model(
        ModelConfig(architecture="gem", backbone="resnet18", image_size=64, pretrained="none")
    )


def test_file_dialogs_open_in_pictures_then_in_the_last_folder(qtbot, tmp_path, monkeypatch):
    import platformdirs
    from PySide6.QtWidgets import QFileDialog

    from app.settings import Settings
    from app.settings_dialog import SettingsDialog
    from app.wizard.data_page import DataPage

    pictures = tmp_path / "Pictures"
    pictures.mkdir()
    monkeypatch.setenv("VISUAL_SEARCH_HOME", str(tmp_path / "home"))  # no folder used yet
    monkeypatch.setattr(platformdirs, "user_pictures_dir", lambda: str(pictures))
    opened, chosen = [], tmp_path / "data"
    chosen.mkdir()

    def ask(parent, title, start, *rest):
        opened.append(start)
        return str(chosen)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", ask)
    page = DataPage()
    qtbot.addWidget(page)
    page._pick_data()
    assert opened == [str(pictures)] and page.path.text() == str(chosen)
    page._pick_out()  # another of the wizard's dialogs: where the person last was
    assert opened == [str(pictures), str(chosen)]
    # the window's dialogs share the folder, kept in the settings across sessions
    settings = Settings.load()[0]
    assert settings.last_folder == str(chosen)
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog._add_exclusion()
    assert opened[-1] == str(chosen) and dialog.exclude.item(0).text() == str(chosen)


def test_curves_have_axes_with_units(qtbot):
    from app.wizard.curves import CurveWidget, tick_text, ticks

    w = CurveWidget()
    qtbot.addWidget(w)
    for step in range(4):
        w.add(
            dict(
                kind="step",
                epoch=1,
                steps=4,
                step=step,
                loss=2.0 - step / 4,
                accuracy=step / 4,
                lr=1e-4,
            )
        )
    assert w.steps["loss"] == [5, 6, 7, 8] and w.x_range() == (5, 8)
    assert w.X_TITLE == "optimizer step"
    assert w.TITLES == {
        "loss": "loss (no unit)",
        "accuracy": "batch accuracy (%)",
        "lr": "learning rate",
    }
    assert [tick_text(v, "accuracy") for v in ticks(0.0, 1.0)] == ["0%", "50%", "100%"]
    assert tick_text(1e-4, "lr") == "1e-04"
    w.resize(500, 300)
    assert not w.grab().isNull()


def test_a_worker_is_freed_at_once_not_by_the_garbage_collector(qtbot):
    """A worker in a reference cycle is freed by the collector on whatever thread runs it —
    a training thread deleting the signals' QObject, which left Resume waiting forever."""
    from app.workers import Worker

    def job(progress, should_stop):
        return 1

    gc.disable()
    try:
        w = Worker(job)
        gone, signals = weakref.ref(w), weakref.ref(w.signals)
        del w
        assert gone() is None and signals() is None
    finally:
        gc.enable()
