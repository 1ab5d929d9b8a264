"""Training wizard: data → report (and overlap audit) → method → training → evaluation.

"Improve the model from my photos" (the first page's other choice, or ``source="library"``)
goes data → verified matches mined from the library → method → training → before and after
(``wizard_library``), with no labels.

Every step calls the engine on worker threads (``open_dataset``, ``audit``, ``mine``,
``Trainer.run``, ``evaluate_*``); the pages only collect choices and show what comes back.
"""

from __future__ import annotations

import functools
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from app.wizard.curves import CurveWidget
from app.wizard.data_page import DataPage, ReportPage
from app.wizard.library_page import ImprovedPage, MinePage
from app.wizard.method_page import MethodPage
from app.workers import TaskSlot, Worker


class _Records(QObject):
    """Carries the trainer's metric records (``on_record``) to the GUI thread."""

    record = Signal(object)


class TrainPage(QWizardPage):
    def __init__(self, wizard: TrainingWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Training")
        self.curves = CurveWidget()
        self.status = QLabel("")
        self.cancel = QPushButton("Cancel")
        self.resume = QPushButton("Resume")
        # stop, not cancel: the trainer's partial result (saved state, "cancelled") must arrive
        self.cancel.clicked.connect(lambda: self.task.stop())
        self.resume.clicked.connect(lambda: self.start(resume=True))
        lay = QVBoxLayout(self)
        lay.addWidget(self.curves, 1)
        lay.addWidget(self.status)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.resume)
        row.addWidget(self.cancel)
        lay.addLayout(row)
        self.task = TaskSlot(self)
        self.records = _Records()
        self.records.record.connect(self._on_record)
        self.result = None

    def initializePage(self) -> None:
        self.start(resume=False)

    def start(self, resume: bool) -> None:
        m = self.wiz.method_page
        choices = dict(
            method=m.method.currentText(),
            backbone=m.backbone.currentText(),
            image_size=m.size.value(),
            epochs=m.epochs.value(),
            batch_size=m.batch.value(),
            device=m.device_choice(),
            workers=self.wiz.workers,
        )
        if self.wiz.source == "library":
            run = self.wiz.mine_page.improvement
            job = functools.partial(
                run.train,
                choices,
                self.wiz.train_overrides,
                self.wiz.out_dir(),
                resume,
                self.records.record.emit,
            )
        else:
            job = self._labelled_job(choices, resume)
        self.result = None
        self.completeChanged.emit()
        self.resume.setEnabled(False)
        self.cancel.setEnabled(True)

        w = Worker(job)
        w.signals.progress.connect(lambda done, total, message: self.status.setText(message))
        w.signals.result.connect(self._on_done)
        w.signals.error.connect(lambda msg, d: self.status.setText(f"training failed: {msg}"))
        self.task.start(w)

    def _labelled_job(self, choices: dict, resume: bool):
        from engine.training import TrainConfig, Trainer

        # from_dict: the overrides may name fields of any part (common, labelled, generated)
        cfg = TrainConfig.from_dict({**choices, **self.wiz.train_overrides})
        trainer = Trainer(cfg, self.wiz.report_page.dataset, self.field("out"))

        def job(progress, should_stop):
            return trainer.run(
                progress, should_stop, resume=resume, on_record=self.records.record.emit
            )

        return job

    def _on_record(self, rec: dict) -> None:
        if rec["kind"] == "step":
            self.curves.add(rec)

    def _on_done(self, res) -> None:
        self.result = res
        self.cancel.setEnabled(False)
        self.resume.setEnabled(res.cancelled)
        self.status.setText(
            "cancelled — Resume continues where it stopped"
            if res.cancelled
            else f"done: {res.epochs_done} epochs"
        )
        self.completeChanged.emit()
        self.wiz.training_done.emit(res)

    def isComplete(self) -> bool:
        return self.result is not None and not self.result.cancelled


class EvalPage(QWizardPage):
    def __init__(self, wizard: TrainingWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Evaluation")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.use = QCheckBox(
            "Use this model (the library is re-indexed in the background; "
            "searches keep using the current model until it is done)"
        )
        self.use.setChecked(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.use)
        self.task = TaskSlot(self)
        self.figures = None

    def initializePage(self) -> None:
        from engine.evaluation import evaluate_folder_set
        from engine.network import Extractor, load_checkpoint

        hist = self.wiz.train_page.result.history
        lines = [
            f"epoch {h['epoch'] + 1}: loss {h['loss']:.4f}, accuracy {h['accuracy']:.3f}"
            for h in hist
        ]
        self.text.setPlainText("\n".join(lines) + "\n\nevaluating…")
        model_dir = Path(self.field("out")) / "model"
        target = self.wiz.report_page.eval_path.text() or self.field("data")

        def job():
            ex = Extractor(load_checkpoint(model_dir), device="auto")
            if target.endswith(".pkl"):
                from engine.evaluation import evaluate_revisitop

                images = Path(target).parent / "jpg"
                # the trained network is what the wizard measures
                return evaluate_revisitop(ex, target, images, pipeline="global")
            return evaluate_folder_set(ex, target)

        w = Worker(job)
        w.signals.result.connect(self._on_figures)
        w.signals.error.connect(lambda m, d: self.text.appendPlainText(f"evaluation: {m}"))
        self.task.start(w)

    def _on_figures(self, res: dict) -> None:
        self.figures = res
        if "M" in res:
            text = "  ".join(f"{p}: mAP {res[p]['mAP']:.2f}" for p in "EMH")
        else:
            text = f"leave-one-out mAP {res['mAP']:.2f} on {res['images']} photos"
        self.text.appendPlainText(text)
        self.wiz.evaluation_done.emit(res)


class TrainingWizard(QWizard):
    """``source``: ``labelled`` opens on the data page; ``library`` opens on the verified
    matches mined from ``library`` ("Improve the model from my photos")."""

    report_ready = Signal(object)
    mined_ready = Signal(object)  # the MinedSet, enough to train on or not
    audit_done = Signal(object)
    training_done = Signal(object)
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
        if last.use.isChecked():
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
