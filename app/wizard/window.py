"""Training wizard: data → report (and overlap audit) → method → training → evaluation.

"Improve the model from my photos" (the first page's other choice, or ``source="library"``)
goes data → verified matches mined from the library → method → training → before and after
(``wizard_library``), with no labels.

Every step calls the engine on worker threads (``open_dataset``, ``audit``, ``mine``,
``Trainer.run``, ``evaluate_*``); the pages only collect choices and show what comes back.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QMessageBox,
    QWizard,
    QWizardPage,
)

from app.wizard.data_page import DataPage, ReportPage
from app.wizard.eval_page import EvalPage
from app.wizard.library_page import ImprovedPage, MinePage
from app.wizard.method_page import MethodPage
from app.wizard.train_page import TrainPage


class TrainingWizard(QWizard):
    """``source``: ``labelled`` opens on the data page; ``library`` opens on the verified
    matches mined from ``library`` ("Improve the model from my photos")."""

    report_ready = Signal(object)
    mined_ready = Signal(object)  # the MinedSet, enough to train on or not
    audit_done = Signal(object)
    training_done = Signal(object)  # a result: finished, cancelled, or stopped on NaN
    training_failed = Signal(str)  # an error stopped training (the page says which)
    evaluation_done = Signal(object)
    use_model = Signal(str)  # the checkpoint folder to switch the library to

    def __init__(
        self,
        library,
        model_spec=None,
        parent=None,
        workers: int = 2,
        train_overrides: dict | None = None,
        source: str = "labelled",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        # its own window, never modal: the main window stays usable while it works, and
        # its long tasks run on its own threads, not those searches use
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        flags = self.windowFlags() & ~Qt.WindowType.Dialog  # a window of its own, not
        self.setWindowFlags(flags | Qt.WindowType.Window)  # one kept above the main window
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        # one Cancel per page: the pages' Cancel stops their step; this one closes the window
        self.setButtonText(QWizard.WizardButton.CancelButton, "Close")
        self.library = library
        self.model_spec = model_spec
        self.workers = workers
        self.train_overrides = train_overrides or {}
        self.data_page = DataPage(library_available=library is not None)
        self.report_page = ReportPage(self)
        self.mine_page = MinePage(self)
        self.method_page = MethodPage(self)
        self.train_page = TrainPage(self)
        self.eval_page = EvalPage(self)
        self.improved_page = ImprovedPage(self)
        self.pages = (
            self.data_page,
            self.report_page,
            self.mine_page,
            self.method_page,
            self.train_page,
            self.eval_page,
            self.improved_page,
        )
        self.ids = {id(p): self.addPage(p) for p in self.pages}
        if self.method_page.missing:  # no PyTorch: every step towards training says so
            from app.wizard.method_page import TRAINING_NEEDS_TORCH

            for page in (self.data_page, self.report_page, self.mine_page, self.train_page):
                page.setSubTitle(TRAINING_NEEDS_TORCH)
        if source == "library":
            if library is None:
                raise ValueError("improving the model from the library's photos needs a library")
            self.data_page.from_library.setChecked(True)
            self.setWindowTitle("Improve the model from my photos")
            self.setStartId(self.page_id(self.mine_page))
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        #: ``confirm_close(what would be lost) -> bool``: by default a question to the user
        self.confirm_close = self.ask_to_close
        self.last_question: QMessageBox | None = None
        self.resize(720, 560)

    @property
    def source(self) -> str:
        """``library`` or ``labelled``: what the first page (or the caller) chose."""
        return self.data_page.source

    def page_id(self, page: QWizardPage) -> int:
        return self.ids[id(page)]

    def nextId(self) -> int:
        """Labelled: data → report → method → training → evaluation. Library: data →
        mined matches → method → training → before and after."""
        page, library = self.currentPage(), self.source == "library"
        after = {
            id(self.data_page): self.mine_page if library else self.report_page,
            id(self.report_page): self.method_page,
            id(self.mine_page): self.method_page,
            id(self.method_page): self.train_page,
            id(self.train_page): self.improved_page if library else self.eval_page,
        }
        if page is None or id(page) not in after:
            return -1  # the evaluation, or the figures: the last page
        return self.page_id(after[id(page)])

    def out_dir(self) -> str:
        """Where the model is saved."""
        return self.mine_page.out.text() if self.source == "library" else self.field("out")

    def accept(self) -> None:
        last = self.improved_page if self.source == "library" else self.eval_page
        if last.use.isChecked() and last.use.isEnabled():
            self.use_model.emit(str(Path(self.out_dir()) / "model"))
        super().accept()

    # ---------------------------------------------------------------- closing

    def work_at_risk(self) -> str | None:
        """What closing the wizard now would stop or lose, in words (None: nothing)."""
        out = self.out_dir()
        if self.train_page.task.busy():
            return (
                "Training is running. Closing stops it; what it learned so far is saved in "
                f"{out}, and `visual-search train … --resume --out {out}` continues it."
            )
        if self.mine_page.task.busy():
            return (
                "Your photos are being checked for verified matches. Closing stops the check, "
                "and what it found so far is lost."
            )
        if self.mine_page.mined is not None and self.train_page.result is None:
            return (
                "The verified matches found are not used yet: closing leaves them unused (a "
                f"copy is kept in {Path(out) / 'mined.json'})."
            )
        return None

    def ask_to_close(self, risk: str) -> bool:
        """Whether the user closes anyway (*Keep working* is the default, and Esc's answer)."""
        box = QMessageBox(QMessageBox.Icon.Question, "Close?", risk, parent=self)
        stop = box.addButton("Stop and close", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        self.last_question = box
        box.exec()
        return box.clickedButton() is stop

    def reject(self) -> None:
        """Esc or closing the window: when work would be lost, ask first; then keep what can
        be kept (the matches found, training's saved state) and stop the rest."""
        risk = self.work_at_risk()
        if risk is not None and not self.confirm_close(risk):
            return
        self._keep_what_can_be_kept()
        super().reject()

    def _keep_what_can_be_kept(self) -> None:
        mined = self.mine_page.mined
        if mined is not None and self.train_page.result is None and not self.train_page.task.busy():
            try:  # the minutes of checking are not thrown away (``MinedSet.load`` reads it)
                mined.save(Path(self.out_dir()) / "mined.json")
            except OSError as e:
                self.mine_page.message.setText(f"The matches found could not be kept: {e}")
        self.mine_page.task.cancel()
        self.train_page.task.stop()  # the trainer saves its state as it stops

    def shutdown(self) -> None:
        for page in self.pages[1:]:
            page.task.wait()


__all__ = ["TrainingWizard"]
