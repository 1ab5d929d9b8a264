"""The window's tests cannot hang on a question: a dialog that asks before it closes (as the
improve-model wizard does with work at risk) and is still open when its test ends is closed by
pytest-qt, and the question gets its Esc answer (``conftest.pytest_runtest_teardown``)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QMessageBox

#: dialogs kept alive past their test, so that teardown closes them (as a fixture's would be)
KEPT: list[QDialog] = []
ANSWERS: list[str] = []


class AsksBeforeClosing(QDialog):
    def reject(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Close?", "Work at risk.", parent=self)
        box.addButton("Stop and close", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
        box.setEscapeButton(keep)
        box.exec()
        ANSWERS.append(box.clickedButton().text())


def test_a_dialog_that_asks_is_left_open_for_teardown(qtbot):
    dialog = AsksBeforeClosing()
    KEPT.append(dialog)
    qtbot.addWidget(dialog)
    dialog.show()


def test_its_question_was_answered_with_esc():
    assert ANSWERS == ["Keep working"]
