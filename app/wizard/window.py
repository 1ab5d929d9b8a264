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

from PySide6.QtCore import QObject, Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from app.settings_dialog import made_models
from app.wizard.curves import CurveWidget
from app.wizard.data_page import DataPage, ReportPage
from app.wizard.library_page import ImprovedPage, MinePage
from app.wizard.method_page import MethodPage
from app.workers import TaskSlot, Worker


class _Records(QObject):
    """Carries the trainer's metric records (``on_record``) to the GUI thread."""

    record = Signal(object)


class TrainPage(QWizardPage):
    """Training with its curves, one progress line (what it does, the rate, the time left),
    Cancel (what was learned is kept) and Resume. A training that stops on an error says so
    on the page and can be resumed; one whose loss went NaN says which checkpoint it kept."""

    def __init__(self, wizard: TrainingWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Training")
        self.curves = CurveWidget()
        self.bar = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.message = QLabel("")  # an error, or why training stopped early
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cancel = QPushButton("Cancel")
        self.resume = QPushButton("Resume")
        # stop, not cancel: the trainer's partial result (saved state, "cancelled") must arrive
        self.cancel.clicked.connect(lambda: self.task.stop())
        self.resume.clicked.connect(lambda: self.start(resume=True))
        lay = QVBoxLayout(self)
        lay.addWidget(self.curves, 1)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.resume)
        row.addWidget(self.cancel)
        lay.addLayout(row)
        lay.addWidget(self.status)
        lay.addWidget(self.message)
        self.task = TaskSlot(self, wizard.pool)
        self.records = _Records()
        self.records.record.connect(self._on_record)
        self.result = None
        self.error: str | None = None

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
        if not resume:
            self.curves.clear()
        self.result = self.error = None
        self.message.setText("")
        self.status.setText("Starting…")
        self.bar.setRange(0, 0)
        self.completeChanged.emit()
        self.resume.setEnabled(False)
        self.cancel.setEnabled(True)

        w = Worker(job)
        w.signals.progress.connect(self._on_progress)
        w.signals.result.connect(self._on_done)
        w.signals.error.connect(self._on_error)
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

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.bar.setRange(0, max(total, 0))
        self.bar.setValue(done)
        self.status.setText(message[:1].upper() + message[1:])

    def _on_record(self, rec: dict) -> None:
        if rec["kind"] == "step":
            self.curves.add(rec)

    def _on_done(self, res) -> None:
        self.result = res
        self.cancel.setEnabled(False)
        self.resume.setEnabled(res.cancelled)
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        if res.cancelled:
            self.status.setText("Cancelled — what was learned is kept; Resume continues from it.")
        else:
            self.status.setText(f"Done: {res.epochs_done} epochs.")
        if res.diverged:
            self.message.setText(res.diverged[:1].upper() + res.diverged[1:])
        if res.epochs_done and not res.cancelled:  # Settings lists it at once
            made_models().add(str(Path(self.wiz.out_dir()) / "model"))
        self.completeChanged.emit()
        self.wiz.training_done.emit(res)

    def _on_error(self, message: str, details: str) -> None:
        """Training stopped on an error: the page says so (never a silent hang); Resume
        continues from the last saved state."""
        self.error = message
        self.cancel.setEnabled(False)
        self.resume.setEnabled(True)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.status.setText("Training stopped on an error; Resume continues from the last save.")
        self.message.setText(f"Training failed: {message}")
        self.message.setToolTip(details)
        self.completeChanged.emit()
        self.wiz.training_failed.emit(message)

    def isComplete(self) -> bool:
        res = self.result
        return res is not None and not res.cancelled and res.epochs_done > 0


class EvalPage(QWizardPage):
    """The trained model and the model in use, measured side by side on the evaluation set;
    *Use this model* is offered (never ticked for the person) only when the new one is better
    on photos it did not train on."""

    def __init__(self, wizard: TrainingWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Evaluation")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        self.use = QCheckBox(USE_TEXT)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.verdict)
        lay.addWidget(self.use)
        self.task = TaskSlot(self, wizard.pool)
        self.figures = None

    def initializePage(self) -> None:
        from engine.evaluation import evaluate_folder_set
        from engine.network import Extractor, load_checkpoint, resolve_model

        hist = self.wiz.train_page.result.history
        lines = [
            f"epoch {h['epoch'] + 1}: loss {h['loss']:.4f}, accuracy {h['accuracy']:.3f}"
            for h in hist
        ]
        self.text.setPlainText(
            "\n".join(lines) + "\n\nevaluating the new model and the one in use…"
        )
        self.use.setChecked(False)
        self.use.setEnabled(False)
        model_dir = Path(self.field("out")) / "model"
        eval_set = self.wiz.report_page.eval_path.text()
        target = eval_set or self.field("data")
        in_use = self.wiz.model_spec

        def measure(ex):
            if target.endswith(".pkl"):
                from engine.evaluation import evaluate_revisitop

                images = Path(target).parent / "jpg"
                # the trained network is what the wizard measures
                return evaluate_revisitop(ex, target, images, pipeline="global")
            return evaluate_folder_set(ex, target)

        def job():
            new = measure(Extractor(load_checkpoint(model_dir), device="auto"))
            old = measure(Extractor(resolve_model(in_use), device="auto"))
            return {"new": new, "in_use": old, "held_out": bool(eval_set)}

        w = Worker(job)
        w.signals.result.connect(self._on_figures)
        w.signals.error.connect(lambda m, d: self.text.appendPlainText(f"evaluation: {m}"))
        self.task.start(w)

    @staticmethod
    def _score(res: dict) -> float:
        return res["M"]["mAP"] if "M" in res else res["mAP"]

    def _on_figures(self, res: dict) -> None:
        self.figures = res
        for who, key in (("new model", "new"), ("model in use", "in_use")):
            r = res[key]
            if "M" in r:
                text = "  ".join(f"{p}: mAP {r[p]['mAP']:.2f}" for p in "EMH")
            else:
                text = f"leave-one-out mAP {r['mAP']:.2f} on {r['images']} photos"
            self.text.appendPlainText(f"{who}: {text}")
        better = self._score(res["new"]) > self._score(res["in_use"])
        if not res["held_out"]:
            why = (
                "Measured on the photos it trained on, which says nothing about photos it has "
                "not seen: choose an evaluation set on the report page to compare the models."
            )
        elif better:
            why = "The new model ranks the evaluation set better than the model in use."
        else:
            why = "The new model is not better than the model in use: keeping it is suggested."
        self.verdict.setText(why)
        self.use.setEnabled(better and res["held_out"])
        self.wiz.evaluation_done.emit(res["new"])  # the new model's figures


#: the choice the last page offers
USE_TEXT = (
    "Use this model (the library is re-indexed in the background; "
    "searches keep using the current model until it is done)"
)


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
