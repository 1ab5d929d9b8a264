"""The training wizard's training page: live curves, one progress line (what it is doing, the
rate, the time left), Cancel and Resume; an error or a loss gone NaN is said on the page."""

from __future__ import annotations

import functools
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from app.made_models import made_models
from app.wizard.curves import CurveWidget
from app.workers import TaskSlot, Worker


class _Records(QObject):
    """Carries the trainer's metric records (``on_record``) to the GUI thread."""

    record = Signal(object)


class TrainPage(QWizardPage):
    """Training with its curves, one progress line (what it does, the rate, the time left),
    Cancel (what was learned is kept) and Resume. A training that stops on an error says so
    on the page and can be resumed; one whose loss went NaN says which checkpoint it kept."""

    def __init__(self, wizard) -> None:
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
            n = res.epochs_done
            self.status.setText(f"Training done: {n} epoch{'' if n == 1 else 's'}.")
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
