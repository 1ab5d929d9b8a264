"""The training wizard's first pages as a person meets them: Next, the report, the defaults."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.app.helpers import next_button


@pytest.fixture
def wizard(qtbot, no_gpu):
    from app.wizard.window import TrainingWizard

    wiz = TrainingWizard(library=None)
    qtbot.addWidget(wiz)
    wiz.show()
    yield wiz
    wiz.shutdown()


@pytest.fixture
def data(tmp_path):
    """Three classes of 3 photos, one of which has an unreadable file, and a class of one."""
    from engine.training.generator import write_training_set

    root = tmp_path / "data"
    write_training_set(root, classes=3, per_class=3, size=(64, 48))
    first = sorted(p for p in root.iterdir() if p.is_dir())[0]
    lonely = root / "lonely"
    lonely.mkdir()
    (lonely / "only.jpg").write_bytes(sorted(first.glob("*.jpg"))[0].read_bytes())
    (first / "broken.jpg").write_bytes(b"this is not a photo")
    return root


def test_next_is_enabled_by_a_valid_folder_with_the_prefilled_output(wizard, data, tmp_path):
    page = wizard.data_page
    assert page.out.text()  # pre-filled, left as it is
    assert not next_button(wizard).isEnabled()
    page.path.setText(str(tmp_path / "missing"))
    assert not next_button(wizard).isEnabled()
    assert "no such folder" in page.hint.text()
    page.path.setText(str(data))
    assert next_button(wizard).isEnabled()
    assert page.hint.text() == ""
    page.out.setText("")
    assert not next_button(wizard).isEnabled()


def open_report(qtbot, wizard, data):
    wizard.data_page.path.setText(str(data))
    with qtbot.waitSignal(wizard.report_ready, timeout=60_000):
        next_button(wizard).click()
    return wizard.report_page


def test_the_report_is_a_table_of_classes_counts_and_problems(qtbot, wizard, data):
    page = open_report(qtbot, wizard, data)
    classes = sorted(p.name for p in data.iterdir() if p.is_dir())
    model = page.class_view.model()
    rows = {
        model.index(r, 0).data(): (model.index(r, 1).data(), model.index(r, 2).data())
        for r in range(model.rowCount())
    }
    assert sorted(rows) == classes  # one row per class, the dropped one included
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(3)]
    assert headers == ["Class", "Images", "Problems found"]
    first = classes[0]
    assert rows[first][0] == "3" and "broken.jpg" in rows[first][1]
    assert rows["lonely"][0] == "1" and "fewer than 2" in rows["lonely"][1]
    assert all(rows[c] == ("3", "") for c in classes[1:] if c != "lonely")
    problems = page.problem_view.model()
    assert problems.rowCount() == 1 and page.problem_view.isVisible()
    assert problems.index(0, 0).data() == "broken.jpg"
    assert problems.index(0, 1).data() == first
    assert "not a recognised image format" in problems.index(0, 2).data()
    assert "3 classes, 9 images" in page.summary.text()
    assert next_button(wizard).isEnabled()


def test_data_it_cannot_train_on_says_why_and_nothing_reads_as_clean(qtbot, wizard, data):
    for extra in [p for p in data.iterdir() if p.is_dir()][1:]:
        for f in extra.iterdir():
            f.unlink()
        extra.rmdir()  # one class left
    wizard.data_page.path.setText(str(data))
    next_button(wizard).click()
    page = wizard.report_page
    qtbot.waitUntil(lambda: "Cannot train on this" in page.summary.text(), timeout=60_000)
    assert "one subfolder per object" in page.summary.text()
    assert page.problem_label.text() == "" and not page.problem_view.isVisible()
    assert not next_button(wizard).isEnabled()


def test_cpu_defaults_are_small_with_an_estimate_and_a_no_gpu_notice(qtbot, wizard, data):
    from engine.training.plan import CPU_BUDGET_S

    open_report(qtbot, wizard, data)
    next_button(wizard).click()
    mp = wizard.method_page
    assert wizard.currentPage() is mp
    assert (mp.backbone.currentText(), mp.epochs.value()) != ("resnet101", 10)
    assert mp.backbone.currentText() == "resnet18" and mp.size.value() <= 256
    assert mp.batch.value() <= 8  # 9 photos: one batch must fit in the training part
    assert mp.notice.isVisible()
    assert mp.notice.text().startswith("No GPU found: training runs on the CPU")
    assert "minute" in mp.notice.text()
    assert mp.current_plan().seconds <= CPU_BUDGET_S
    short = mp.estimate.text()
    assert "minute" in short and "9 photos" in short and "CPU" in short
    cuda = mp.device.model().item(2)
    assert not cuda.isEnabled() and "no NVIDIA GPU found" in cuda.toolTip()
    # the paper's settings: the estimate follows, and says they are long for this CPU
    mp.backbone.setCurrentText("resnet101")
    mp.size.setValue(1024)
    mp.epochs.setValue(200)
    assert mp.estimate.text() != short
    assert "much longer than the defaults" in mp.estimate.text()


def test_on_a_gpu_the_estimate_waits_for_a_timed_step(qtbot, wizard, data, monkeypatch):
    """With a GPU the papers' settings are proposed and one training step is timed on it;
    here the step cannot run (no GPU), and the page says the estimate is unknown and why."""
    import engine.training.plan as plan

    monkeypatch.setattr(plan, "device_kind", lambda device="auto": "cuda")
    open_report(qtbot, wizard, data)
    next_button(wizard).click()
    mp = wizard.method_page
    assert (mp.backbone.currentText(), mp.size.value(), mp.epochs.value()) == ("resnet101", 512, 10)
    assert "timing one training step" in mp.notice.text()
    qtbot.waitUntil(lambda: "unknown" in mp.estimate.text(), timeout=30_000)
    assert "CUDA" in mp.estimate.text()
