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
