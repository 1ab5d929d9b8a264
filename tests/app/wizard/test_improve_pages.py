"""The wizard's "Improve the model from my photos": a real library is mined, a tiny model is
trained on its verified matches, and the held-out figures before and after are shown."""

from __future__ import annotations

import json
import math

import pytest

from tests.app.helpers import next_button
from tests.helpers import MODEL


@pytest.fixture
def mined_sets(monkeypatch):
    """Every MinedSet that ``mine`` returns, as it returned it."""
    import engine.library.improve.mining as mining

    found = []
    real = mining.mine

    def spy(*args, **kwargs):
        found.append(real(*args, **kwargs))
        return found[-1]

    monkeypatch.setattr(mining, "mine", spy)
    return found


def open_library(root, folder):
    from engine.library import Library

    lib = Library(root, device="cpu")
    lib.index([str(folder)], model=MODEL)
    return lib


@pytest.fixture
def views_library(tmp_path):
    """8 objects, 3 views each, at 480×360: enough verified pairs to train on."""
    from app.screenshots_wizard import write_views

    folder = write_views(tmp_path / "views")
    lib = open_library(tmp_path / "lib", folder)
    yield lib
    lib.close()


def make_wizard(qtbot, lib, **kwargs):
    from app.wizard.window import TrainingWizard

    wiz = TrainingWizard(lib, MODEL, workers=0, **kwargs)
    qtbot.addWidget(wiz)
    wiz.show()
    return wiz


def table_rows(view) -> dict[str, str]:
    model = view.model()
    return {model.index(r, 0).data(): model.index(r, 1).data() for r in range(model.rowCount())}


def method_page_continues_the_librarys_model(mp, lib) -> None:
    """The method page proposes the library's model (method, backbone, size) with an
    estimate; then small settings are chosen, for a quick run on the CPU."""
    from engine.library import starting_config

    start = starting_config(lib.model(MODEL)[1].spec)
    assert (mp.method.currentText(), mp.backbone.currentText(), mp.size.value()) == (
        start.method,
        start.backbone,
        start.image_size,
    )
    assert "CPU" in mp.estimate.text() and "photos ×" in mp.estimate.text()
    assert "continues the model the library uses" in mp.notice.text()
    mp.epochs.setValue(1)
    mp.batch.setValue(8)
    mp.size.setValue(96)
    mp.device.setCurrentText("cpu")


def models_are_compared_side_by_side(ip, res, mined, model_dir) -> bool:
    """The held-out recall of the model in use and of the new one, as measured afresh, side by
    side; *Use this model* is never ticked for the person, and offered only when the new model
    is better. Returns whether it was offered."""
    from engine.network.checkpoint import load_checkpoint, resolve_model
    from engine.training.mined import MIN_HELD_OUT, held_out_recall

    want_before = held_out_recall(resolve_model(MODEL), mined, 96)
    want_after = held_out_recall(load_checkpoint(model_dir), mined, 96)
    for got, want in ((res.before, want_before), (res.after, want_after)):
        assert got["queries"] == want["queries"] >= MIN_HELD_OUT
        assert math.isclose(got["recall@10"], want["recall@10"], abs_tol=1e-6)
    assert table_rows3(ip.table) == {
        "recall@10 (share of its verified matches in the first 10)": (
            f"{want_before['recall@10']:.2f}",
            f"{want_after['recall@10']:.2f}",
        ),
        "recall@1 (the first result is a verified match)": (
            f"{want_before['recall@1']:.2f}",
            f"{want_after['recall@1']:.2f}",
        ),
        "Held-out photos searched": (str(want_before["queries"]), str(want_after["queries"])),
    }
    better = (want_after["recall@10"], want_after["recall@1"]) > (
        want_before["recall@10"],
        want_before["recall@1"],
    )
    assert res.verdict["better"] == better
    assert ip.use.isVisible() and not ip.use.isChecked()
    assert ip.use.isEnabled() == better
    assert ip.why_not.isVisible() == (not better)
    if not better:
        assert ip.why_not.text() == f"Not offered: {res.verdict['why']}."
    return better


def table_rows3(view) -> dict[str, tuple[str, str]]:
    m = view.model()
    return {
        m.index(r, 0).data(): (m.index(r, 1).data(), m.index(r, 2).data())
        for r in range(m.rowCount())
    }


def cancel_fail_and_resume(qtbot, wiz, out, monkeypatch):
    """Training cancelled after a step or more, resumed into an error (shown on the page),
    then resumed to the end: (the final result, the "before" figures of the cancelled run)."""
    import engine.library.improve.training as improve_training

    tp = wiz.train_page
    next_button(wiz).click()
    qtbot.waitUntil(lambda: len(tp.curves.series["loss"]) >= 1, timeout=300_000)
    with qtbot.waitSignal(wiz.training_done, timeout=300_000) as stopped:
        tp.cancel.click()  # the trainer stops after its current step
    assert stopped.args[0].cancelled and tp.resume.isEnabled()
    assert tp.status.text().startswith("Cancelled — what was learned is kept")
    steps = len(tp.curves.series["loss"])
    state = json.loads((out / "state.json").read_text())
    assert (state["epoch"], state["step"]) == (0, steps)  # saved where it stopped
    assert len(state["partial"]["losses"]) == steps
    assert not next_button(wiz).isEnabled()
    before = stopped.args[0].before

    # an error on the worker reaches the page as a message, never a silent wait
    real_run = improve_training.Trainer.run

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(improve_training.Trainer, "run", broken)
    with qtbot.waitSignal(wiz.training_failed, timeout=300_000) as failed:
        tp.resume.click()
    assert failed.args == ["RuntimeError: disk on fire"]
    assert tp.message.text() == "Training failed: RuntimeError: disk on fire"
    assert tp.resume.isEnabled() and not tp.cancel.isEnabled()
    assert not next_button(wiz).isEnabled()
    monkeypatch.setattr(improve_training.Trainer, "run", real_run)

    with qtbot.waitSignal(wiz.training_done, timeout=300_000) as done:
        tp.resume.click()
    res = done.args[0]
    assert not res.cancelled and res.epochs_done == 1 and res.diverged is None
    assert tp.message.text() == ""
    # the curves go on from where they stopped: the steps after the cancel, not again
    assert tp.curves.steps["loss"] == list(range(1, len(tp.curves.steps["loss"]) + 1))
    assert len(tp.curves.series["loss"]) > steps
    return res, before


def test_improve_from_the_library_mines_trains_and_shows_before_and_after(
    qtbot, views_library, mined_sets, no_gpu, tmp_path, monkeypatch
):
    wiz = make_wizard(qtbot, views_library, train_overrides=dict(pretrained="none"))
    try:
        # the first page's choice: no data folder is needed
        assert not next_button(wiz).isEnabled()
        wiz.data_page.from_library.click()
        assert not wiz.data_page.labelled_box.isEnabled()
        with qtbot.waitSignal(wiz.mined_ready, timeout=240_000) as mined_signal:
            next_button(wiz).click()
        page = wiz.mine_page
        assert wiz.currentPage() is page
        (mined,) = mined_sets
        assert mined_signal.args[0] is mined
        c = mined.counts
        assert c["photos_checked"] == 24 and c["classes"] >= 4 and c["held_out_photos"] >= 5
        assert table_rows(page.view) == {
            "Photos checked": str(c["photos_checked"]),
            "Verified pairs (the same thing from another view)": str(c["pairs"]),
            "Photos with a match": str(c["photos_with_a_positive"]),
            "Groups (photos of one object or place)": str(c["classes"]),
            "Photos held out to measure the model": str(c["held_out_photos"]),
            "Hard negatives (look alike, but do not match)": str(c["negatives"]),
            "Near-duplicate pairs left out": str(c["near_duplicate_pairs"]),
        }
        assert "Not enough" not in page.message.text()
        page.out.setText(str(tmp_path / "improved"))
        assert next_button(wiz).isEnabled()

        # the method page continues the library's model, with the estimate
        next_button(wiz).click()
        method_page_continues_the_librarys_model(wiz.method_page, views_library)

        # training: the curves fill, Cancel keeps what was done, an error says so, Resume
        # finishes it
        res, before = cancel_fail_and_resume(qtbot, wiz, tmp_path / "improved", monkeypatch)
        out = tmp_path / "improved"
        # measured once, before the first step, and read back from the run's figures on resume
        assert res.before == before == json.loads((out / "improve.json").read_text())["before"]
        assert (out / "mined.json").is_file() and (out / "model").is_dir()

        # the comparison: the model in use and the new one on the held-out verified matches
        next_button(wiz).click()
        assert wiz.currentPage() is wiz.improved_page
        offered = models_are_compared_side_by_side(wiz.improved_page, res, mined, out / "model")
        used = []
        wiz.use_model.connect(used.append)
        wiz.improved_page.use.setChecked(offered)
        wiz.accept()
        assert used == ([str(out / "model")] if offered else [])
    finally:
        wiz.shutdown()


def test_too_few_verified_matches_say_what_to_do_and_keep_next_disabled(
    qtbot, photos, tmp_path, mined_sets, no_gpu
):
    from engine.library.improve.mining import NotEnoughPairs, require_enough

    lib = open_library(tmp_path / "lib", photos)
    wiz = make_wizard(qtbot, lib, source="library")
    try:
        page = wiz.mine_page
        assert wiz.currentPage() is page  # the data page is skipped, mining has started
        assert page.cancel.isEnabled() and not page.again.isEnabled()
        page.cancel.click()
        qtbot.waitUntil(page.again.isEnabled, timeout=120_000)
        (partial,) = mined_sets  # a cancel keeps what the photos checked so far gave
        c = partial.counts
        assert c["cancelled"] and c["photos_checked"] <= c["photos_in_library"] == 12
        assert page.status.text() == (
            f"Cancelled after {c['photos_checked']} of 12 photos: what they gave is kept "
            "below; Check again starts over."
        )
        assert table_rows(page.view)["Photos checked"] == str(c["photos_checked"])
        assert not next_button(wiz).isEnabled()
        page.again.click()
        qtbot.waitUntil(lambda: len(mined_sets) == 2 and page.again.isEnabled(), timeout=120_000)
        mined = mined_sets[-1]
        assert not mined.counts["cancelled"]
        with pytest.raises(NotEnoughPairs) as too_few:
            require_enough(mined)
        text = page.message.text()
        assert text.startswith("Not enough to learn from") and str(too_few.value) in text
        assert "add more photos of the same places or objects" in text
        assert "different views" in text
        assert table_rows(page.view)["Photos checked"] == "12"
        assert not next_button(wiz).isEnabled()
        assert not page.cancel.isEnabled()
    finally:
        wiz.shutdown()
        lib.close()
