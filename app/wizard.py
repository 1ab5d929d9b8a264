"""Training wizard: data → report (and overlap audit) → method → training → evaluation.

Every step calls the engine on worker threads (``open_dataset``, ``audit``, ``Trainer.run``,
``evaluate_*``); the pages only collect choices and show what comes back.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from engine.paths import models_dir

from .curves import CurveWidget
from .workers import TaskSlot, Worker


class _Records(QObject):
    """Carries the trainer's metric records (``on_record``) to the GUI thread."""

    record = Signal(object)


class DataPage(QWizardPage):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Training data")
        self.setSubTitle(
            "A folder with one sub-folder per object or place, or a Google Landmarks v2 CSV."
        )
        self.path = QLineEdit()
        self.exclude = QLineEdit()
        self.out = QLineEdit(str(models_dir() / "my-model"))
        form = QFormLayout(self)
        for label, edit, pick in (
            ("Data", self.path, self._pick_data),
            ("Exclude classes (optional)", self.exclude, self._pick_excl),
            ("Save the model in", self.out, self._pick_out),
        ):
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            b = QPushButton("Browse…")
            b.clicked.connect(pick)
            row.addWidget(b)
            if edit is self.path:
                csv_button = QPushButton("GLDv2 CSV…")
                csv_button.clicked.connect(self._pick_csv)
                row.addWidget(csv_button)
            form.addRow(label, row)
        self.registerField("data*", self.path)
        self.registerField("exclude", self.exclude)
        self.registerField("out*", self.out)

    def _pick_data(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Training folder")
        if d:
            self.path.setText(d)

    def _pick_csv(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Google Landmarks v2 CSV", "", "CSV (*.csv)")
        if f:
            self.path.setText(f)

    def _pick_excl(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Exclusion list")
        if f:
            self.exclude.setText(f)

    def _pick_out(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Output folder")
        if d:
            self.out.setText(d)


class ReportPage(QWizardPage):
    """The data report, computed off the GUI thread, and an optional overlap audit."""

    def __init__(self, wizard: TrainingWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("What the data holds")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.eval_path = QLineEdit()
        self.eval_path.setPlaceholderText("gnd_*.pkl or a folder-per-class evaluation set")
        self.audit_button = QPushButton("Check overlap with this evaluation set")
        self.audit_button.clicked.connect(self.run_audit)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text, 1)
        row = QHBoxLayout()
        row.addWidget(self.eval_path, 1)
        row.addWidget(self.audit_button)
        lay.addLayout(row)
        self.dataset = None
        self.task = TaskSlot(self)

    def initializePage(self) -> None:
        from engine.training.data import open_dataset

        self.dataset = None
        self.text.setPlainText("reading the data…")
        w = Worker(open_dataset, self.field("data"), exclude_file=self.field("exclude") or None)
        w.signals.result.connect(self._on_dataset)
        w.signals.error.connect(lambda m, d: self.text.setPlainText(f"cannot train on this: {m}"))
        self.task.start(w)

    def _on_dataset(self, ds) -> None:
        self.dataset = ds
        self.text.setPlainText("\n".join(ds.report.lines()))
        self.completeChanged.emit()
        self.wiz.report_ready.emit(ds)

    def isComplete(self) -> bool:
        return self.dataset is not None

    def run_audit(self) -> None:
        from engine.audit import audit

        if self.dataset is None or not self.eval_path.text():
            return
        ex = self.wiz.library.model(self.wiz.model_spec)[0]
        w = Worker(audit, ex, self.dataset, self.eval_path.text())
        w.signals.result.connect(self._on_audit)
        w.signals.error.connect(lambda m, d: self.text.appendPlainText(f"audit failed: {m}"))
        self.text.appendPlainText("checking for overlap…")
        self.task.start(w)

    def _on_audit(self, rep) -> None:
        d = rep.to_dict()
        self.text.appendPlainText(
            f"{len(d['overlapping_classes'])} training classes show objects of the evaluation "
            f"set: {', '.join(d['overlapping_classes']) or 'none'}"
        )
        self.wiz.audit_done.emit(rep)


class MethodPage(QWizardPage):
    def __init__(self) -> None:
        from engine.models import list_models
        from engine.models.backbones import BACKBONES
        from engine.training.config import TrainConfig

        super().__init__()
        self.setTitle("Method")
        self.method = QComboBox()
        self.method.addItems(list_models())
        self.backbone = QComboBox()
        self.backbone.addItems(list(BACKBONES))
        self.size = QSpinBox()
        self.size.setRange(32, 2048)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(10)
        self.batch = QSpinBox()
        self.batch.setRange(2, 1024)
        self.batch.setValue(32)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.method.currentTextChanged.connect(self._defaults)
        self.method.setCurrentText(TrainConfig.method)
        self._defaults(self.method.currentText())
        form = QFormLayout(self)
        for label, w in (
            ("Method", self.method),
            ("Backbone", self.backbone),
            ("Image size", self.size),
            ("Epochs", self.epochs),
            ("Batch size", self.batch),
            ("Device", self.device),
        ):
            form.addRow(label, w)

    def _defaults(self, method: str) -> None:
        """The paper's training backbone and image size for ``method`` (the registry's)."""
        from engine.models import get_entry

        entry = get_entry(method)
        self.backbone.setCurrentText(entry.train_backbone)
        self.size.setValue(entry.train_image_size)


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
        from engine.training.config import TrainConfig
        from engine.training.trainer import Trainer

        m = self.wiz.method_page
        # from_dict: the overrides may name fields of any part (common, labelled, generated)
        cfg = TrainConfig.from_dict(
            dict(
                method=m.method.currentText(),
                backbone=m.backbone.currentText(),
                image_size=m.size.value(),
                epochs=m.epochs.value(),
                batch_size=m.batch.value(),
                device=m.device.currentText(),
                workers=self.wiz.workers,
                **self.wiz.train_overrides,
            )
        )
        trainer = Trainer(cfg, self.wiz.report_page.dataset, self.field("out"))
        self.result = None
        self.completeChanged.emit()
        self.resume.setEnabled(False)
        self.cancel.setEnabled(True)

        def job(progress, should_stop):
            return trainer.run(
                progress, should_stop, resume=resume, on_record=self.records.record.emit
            )

        w = Worker(job)
        w.signals.progress.connect(lambda done, total, message: self.status.setText(message))
        w.signals.result.connect(self._on_done)
        w.signals.error.connect(lambda msg, d: self.status.setText(f"training failed: {msg}"))
        self.task.start(w)

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
        from engine.checkpoint import load_checkpoint
        from engine.evaluation.runner import evaluate_folder_set
        from engine.extract import Extractor

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
                from engine.evaluation.runner import evaluate_revisitop

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
    report_ready = Signal(object)
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
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.library = library
        self.model_spec = model_spec
        self.workers = workers
        self.train_overrides = train_overrides or {}
        self.data_page = DataPage()
        self.report_page = ReportPage(self)
        self.method_page = MethodPage()
        self.train_page = TrainPage(self)
        self.eval_page = EvalPage(self)
        for p in (
            self.data_page,
            self.report_page,
            self.method_page,
            self.train_page,
            self.eval_page,
        ):
            self.addPage(p)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.resize(720, 560)

    def accept(self) -> None:
        if self.eval_page.use.isChecked():
            self.use_model.emit(str(Path(self.field("out")) / "model"))
        super().accept()

    def shutdown(self) -> None:
        for page in (self.report_page, self.train_page, self.eval_page):
            page.task.wait()


__all__ = ["TrainingWizard"]
