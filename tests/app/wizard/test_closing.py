"""Esc (or closing) in "Improve the model from my photos" while it has work in hand asks
first, *Keep working* being the default; closing anyway keeps what can be kept."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from tests.app.helpers import answer_next_modal
from tests.app.wizard.test_improve_pages import make_wizard, open_library


@pytest.fixture
def slow_mining(monkeypatch):
    """Mining that goes on until it is stopped or ``done`` is set (minutes of work, in a
    test's time), then mines for real."""
    import engine.library.improve.mining as mining

    done, started = threading.Event(), threading.Event()
    real = mining.mine

    def mine(library, model=None, seed=0, progress=None, should_stop=None, *args, **kwargs):
        started.set()
        while not done.wait(0.05):
            if should_stop is not None and should_stop():
                raise mining.VisualSearchError("cancelled")
        return real(library, model, seed, progress, should_stop, *args, **kwargs)

    monkeypatch.setattr(mining, "mine", mine)
    return done, started


def _press(button_text: str) -> list:
    def answer(box):
        for b in box.buttons():
            if b.text() == button_text:
                b.click()

    return answer_next_modal(answer)


def test_esc_while_mining_asks_and_keeps_working_by_default(
    qtbot, photos, tmp_path, slow_mining, no_gpu
):
    done, started = slow_mining
    lib = open_library(tmp_path / "lib", photos)
    wiz = make_wizard(qtbot, lib, source="library")
    try:
        assert started.wait(30) and wiz.mine_page.task.busy()
        asked = answer_next_modal(lambda box: box.reject())  # Esc on the question
        qtbot.keyClick(wiz, Qt.Key.Key_Escape)
        assert asked and isinstance(asked[0], QMessageBox)
        assert "being checked for verified matches" in asked[0].text()
        assert asked[0].defaultButton().text() == "Keep working"
        assert wiz.isVisible() and wiz.mine_page.task.busy()  # nothing was discarded
        asked = _press("Stop and close")
        qtbot.keyClick(wiz, Qt.Key.Key_Escape)
        assert asked and not wiz.isVisible()
        qtbot.waitUntil(lambda: not wiz.mine_page.task.busy(), timeout=30_000)
    finally:
        done.set()
        wiz.shutdown()
        lib.close()


def test_closing_with_matches_found_keeps_them(qtbot, photos, tmp_path, monkeypatch, no_gpu):
    import engine.library

    monkeypatch.setattr(engine.library, "require_enough", lambda mined: None)  # 12 photos do
    lib = open_library(tmp_path / "lib", photos)
    wiz = make_wizard(qtbot, lib, source="library")
    try:
        page = wiz.mine_page
        qtbot.waitUntil(lambda: page.mined is not None, timeout=120_000)
        out = tmp_path / "improved"
        page.out.setText(str(out))
        asked = _press("Stop and close")
        wiz.close()
        assert asked and "not used yet" in asked[0].text()
        assert str(out / "mined.json") in asked[0].text()
        assert not wiz.isVisible()
        from engine.training.mined import MinedSet

        kept = MinedSet.load(out / "mined.json")
        assert kept.counts == page.mined.counts
    finally:
        wiz.shutdown()
        lib.close()
