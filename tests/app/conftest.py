"""Fixtures of the window's tests: the main window over a fresh library, a machine without a
GPU, and the clipboard emptied before the application goes."""

from __future__ import annotations

import pytest

from tests.app.helpers import window_over
from tests.helpers import MODEL


@pytest.fixture
def window(qtbot, tmp_path):
    """The main window over a fresh library; teardown waits for every worker it started."""
    yield from window_over(qtbot, tmp_path / "lib", MODEL)


@pytest.fixture
def no_gpu(monkeypatch):
    """A machine without a CUDA GPU, whatever this one has."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _escape_open_questions() -> None:
    from PySide6.QtWidgets import QApplication, QMessageBox

    for w in QApplication.topLevelWidgets():
        if isinstance(w, QMessageBox) and w.isVisible():
            button = w.escapeButton()
            button.click() if button is not None else w.reject()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item):
    """A question a window asks as the test's widgets are closed (a test that failed half-way
    leaves work at risk, and the wizard asks before it drops it) gets its Esc answer: nobody
    is there to click, and the run must not wait forever."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    timer = None
    if QApplication.instance() is not None:
        timer = QTimer()
        timer.setInterval(200)
        timer.timeout.connect(_escape_open_questions)
        timer.start()
    yield
    if timer is not None:
        timer.stop()


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test(qapp):
    """A worker still running after its test (a training left going, a hung task) would raise
    or report into the tests after it, and spend their CPU: the test that left it fails."""
    yield
    from PySide6.QtCore import QThreadPool

    if not QThreadPool.globalInstance().waitForDone(120_000):
        pytest.fail("a worker of the global thread pool still runs 120 s after its test ended")


@pytest.fixture(autouse=True, scope="session")
def _empty_clipboard_before_exit():
    """The clipboard owns data tests put in it; freeing it after the application is gone
    crashes the interpreter at exit, so it is emptied while the application exists."""
    yield
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        app.clipboard().clear()
