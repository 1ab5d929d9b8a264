"""Settings and the training wizard, opened from the main window."""

from __future__ import annotations

import json


def test_settings_round_trip_and_bad_files(tmp_path):
    from app.settings import Settings

    p = tmp_path / "settings.json"
    s = Settings(
        model="cider:resnet18",
        device="cpu",
        index_kind="flat",
        thumbnail_size=200,
        exclude=["/x/y"],
    )
    s.save(p)
    loaded, problem = Settings.load(p)
    assert problem is None and loaded == s
    p.write_text(json.dumps({"schema_version": 99, "model": "gem"}))
    loaded, problem = Settings.load(p)
    assert loaded == Settings() and "newer version" in problem
    p.write_text("{broken")
    loaded, problem = Settings.load(p)
    assert loaded == Settings() and "unreadable" in problem


def test_settings_dialog_applies_and_saves(window, qtbot, photos, monkeypatch, tmp_path):
    from app.settings import Settings, settings_path

    lib = window.library_panel
    monkeypatch.setenv("VISUAL_SEARCH_HOME", str(tmp_path / "home"))
    configured = []  # what the window asks of the library
    real = window.library.configure

    def configure(**kwargs):
        configured.append(kwargs)
        real(**kwargs)

    monkeypatch.setattr(window.library, "configure", configure)
    dlg = window.open_settings()
    dlg.device.setCurrentText("cpu")
    dlg.index_kind.setCurrentText("flat")
    dlg.exclude.addItem(str(photos / "trips"))
    dlg.accept()
    assert window.state.settings.exclude == [str(photos / "trips")]
    assert configured[-1] == {"device": "cpu", "index_kind": "flat"}
    saved, _ = Settings.load(settings_path())
    assert saved.exclude == [str(photos / "trips")] and saved.device == "cpu"
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000) as blocker:
        lib.index_folders([str(photos)])
    assert blocker.args[0].indexed == 4  # the excluded folder stayed out


def test_training_wizard_end_to_end(window, qtbot, photos, tmp_path):
    from engine.training.generator import write_eval_set, write_training_set

    lib = window.library_panel
    write_training_set(tmp_path / "data", classes=4, per_class=4, size=(80, 60))
    ev = write_eval_set(tmp_path / "eval", queries=2, positives=2, distractors=2, size=(160, 120))
    with qtbot.waitSignal(lib.indexing_finished, timeout=120_000):
        lib.index_folders([str(photos)])
    wiz = window.open_wizard(
        workers=0,
        train_overrides=dict(
            pretrained="none", val_fraction=0.0, arcface_margin=0.1, arcface_scale=16.0
        ),
    )
    wiz.data_page.path.setText(str(tmp_path / "data"))
    wiz.data_page.out.setText(str(tmp_path / "trained"))
    with qtbot.waitSignal(wiz.report_ready, timeout=60_000):
        wiz.next()
    assert "4 classes, 16 images" in wiz.report_page.summary.text()
    wiz.report_page.eval_path.setText(ev["gnd"])
    with qtbot.waitSignal(wiz.audit_done, timeout=120_000) as audit:
        wiz.report_page.audit_button.click()
    assert audit.args[0].overlapping == {}  # disjoint objects
    wiz.next()
    mp = wiz.method_page
    # the defaults proposed for this machine (see tests/test_gui_wizard.py)
    assert (mp.method.currentText(), mp.backbone.currentText()) == ("cider", mp.plan.backbone)
    mp.method.setCurrentText("gem")
    mp.backbone.setCurrentText("resnet18")
    mp.size.setValue(64)
    mp.epochs.setValue(1)
    mp.batch.setValue(4)
    mp.device.setCurrentText("cpu")
    with qtbot.waitSignal(wiz.training_done, timeout=300_000) as done:
        wiz.next()
    assert done.args[0].epochs_done == 1 and wiz.train_page.curves.series["loss"]
    assert "images/s" in wiz.train_page.status.text() or "done" in wiz.train_page.status.text()
    ep = wiz.eval_page  # beside the model in use; offered only when better, never pre-ticked
    said, show = [], ep.status.setText
    ep.status.setText = lambda text: (said.append(text), show(text))
    with qtbot.waitSignal(wiz.evaluation_done, timeout=300_000) as figures:
        wiz.next()
    assert set(figures.args[0]) >= {"E", "M", "H"}  # evaluated on the audit's set
    # what the measuring did, model by model, with its rate (or "measuring the rate" at first)
    for who in ("The new model", "The model in use"):
        assert any(t.startswith(f"{who} — describing the database: ") for t in said), said
    assert all(("photos/s" in t or "measuring the rate" in t) for t in said if " — " in t)
    assert ep.status.text() == "Measured." and not ep.cancel.isEnabled()
    new, old = (ep.figures[k]["M"]["mAP"] for k in ("new", "in_use"))
    assert not ep.use.isChecked() and ep.use.isEnabled() == (new > old)
    if not ep.use.isEnabled():
        wiz.accept()
        assert window.state.model_spec != str(tmp_path / "trained" / "model")
        return wiz.shutdown()
    ep.use.setChecked(True)
    with qtbot.waitSignal(lib.indexing_finished, timeout=300_000) as reindexed:
        wiz.accept()
    assert reindexed.args[0].indexed == 12
    assert window.state.model_spec == str(tmp_path / "trained" / "model")
    assert len(window.library.store.models.all()) == 2  # the old vectors are still there
    wiz.shutdown()
