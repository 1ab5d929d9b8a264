"""The Settings dialog: every choice explained, unusable ones disabled with the reason, and
ImageNet weights downloaded only after a confirmation naming size and source."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox


@pytest.fixture
def dialog(qtbot, no_gpu):
    """Settings on a CPU-only machine."""
    from app.settings import Settings
    from app.settings_dialog import SettingsDialog

    dlg = SettingsDialog(Settings())
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def items(combo):
    return [combo.model().item(i) for i in range(combo.count())]


def test_cuda_is_disabled_with_its_reason(dialog):
    cuda = items(dialog.device)[dialog.device.findData("cuda")]
    assert not cuda.isEnabled()
    assert "no NVIDIA GPU found" in cuda.text() or "no CUDA support" in cuda.text()
    assert cuda.toolTip().startswith("Unavailable: ")
    assert all(i.isEnabled() for i in items(dialog.device) if i is not cuda)
    assert dialog.values().device == "auto"


def test_every_option_has_a_description_that_follows_the_choice(dialog):
    for combo, label in (
        (dialog.model, dialog.model_help),
        (dialog.device, dialog.device_help),
        (dialog.index_kind, dialog.index_help),
    ):
        seen = set()
        for i, item in enumerate(items(combo)):
            tip = combo.itemData(i, Qt.ItemDataRole.ToolTipRole)
            assert tip and tip.strip(), item.text()
            if item.isEnabled():
                combo.setCurrentIndex(i)
                assert label.isVisible() and label.text()
                assert label.text() in tip
                seen.add(label.text())
        assert len(seen) == sum(i.isEnabled() for i in items(combo))  # one line per option
    dialog.index_kind.setCurrentIndex(dialog.index_kind.findData("hnsw"))
    assert "Approximate" in dialog.index_help.text()
    assert dialog.values().index_kind == "hnsw"
    dialog.model.setCurrentText("ugalr:resnet18")
    assert "five scales" in dialog.model_help.text()
    assert dialog.backbone.currentText() == "resnet18"  # the weights that model would use
    dialog.model.setCurrentText("no-such-model")
    assert "Not a known model" in dialog.model_help.text()


def click_download(qtbot, dialog) -> QMessageBox:
    dialog.weights_button.click()
    box = dialog.confirm_box
    qtbot.waitUntil(lambda: box.isVisible())
    return box


def test_imagenet_weights_ask_first_naming_size_and_source(qtbot, dialog):
    from engine.network.weights import weights_info

    dialog.backbone.setCurrentText("resnet50")
    info = weights_info("resnet50")
    assert f"{info.size_mb:.0f} MB" in dialog.weights_help.text()
    assert "download.pytorch.org" in dialog.weights_help.text()
    box = click_download(qtbot, dialog)
    assert f"{info.size_mb:.0f} MB" in box.text() and "download.pytorch.org" in box.text()
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
    with qtbot.assertNotEmitted(dialog.weights_requested):
        box.button(QMessageBox.StandardButton.No).click()
        qtbot.wait(50)
    assert not box.isVisible()
    dialog.backbone.setCurrentText("resnet18")
    box = click_download(qtbot, dialog)
    assert "resnet18" in box.text()
    with qtbot.waitSignal(dialog.weights_requested, timeout=2000) as sent:
        box.button(QMessageBox.StandardButton.Yes).click()
    assert sent.args == ["resnet18"]


def test_thumbnail_size_and_exclusions_say_what_they_do(dialog):
    assert dialog.thumb.suffix() == " px" and "thumbnails" in dialog.thumb_help.text()
    assert "never indexed" in dialog.exclude_help.text()
    assert dialog.thumb.toolTip() and dialog.exclude.toolTip()
