"""The training wizard's evaluation page (labelled data): the trained model and the model in use
measured side by side; *Use this model* offered only when the new one is better."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from app.workers import TaskSlot, Worker


class EvalPage(QWizardPage):
    """The trained model and the model in use, measured side by side on the evaluation set;
    *Use this model* is offered (never ticked for the person) only when the new one is better
    on photos it did not train on."""

    def __init__(self, wizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Evaluation")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        self.use = QCheckBox(USE_TEXT)
        # what the measuring does now, at this run's rate and with the time left; Cancel
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self._cancel)
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.cancel)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text, 1)
        lay.addLayout(row)
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

        def measure(ex, who, progress, should_stop):
            def said(done: int, total: int, message: str) -> None:
                progress(done, total, f"{who} — {message}")

            if target.endswith(".pkl"):
                from engine.evaluation import evaluate_revisitop

                images = Path(target).parent / "jpg"
                # the trained network is what the wizard measures
                return evaluate_revisitop(ex, target, images, pipeline="global", progress=said)
            return evaluate_folder_set(ex, target, progress=said, should_stop=should_stop)

        def job(progress, should_stop):
            net = Extractor(load_checkpoint(model_dir), device="auto")
            new = measure(net, "the new model", progress, should_stop)
            net = Extractor(resolve_model(in_use), device="auto")
            old = measure(net, "the model in use", progress, should_stop)
            return {"new": new, "in_use": old, "held_out": bool(eval_set)}

        w = Worker(job)
        w.signals.progress.connect(lambda d, t, m: self.status.setText(m[:1].upper() + m[1:]))
        w.signals.result.connect(self._on_figures)
        w.signals.error.connect(self._on_error)
        self.status.setText("Loading the models…")
        self.cancel.setEnabled(True)
        self.task.start(w)

    def _cancel(self) -> None:
        self.task.cancel()
        self.cancel.setEnabled(False)
        self.status.setText("Cancelled: the models were not compared, so none is offered.")

    def _on_error(self, message: str, details: str) -> None:
        self.cancel.setEnabled(False)
        self.status.setText("")
        self.text.appendPlainText(f"evaluation: {message}")

    @staticmethod
    def _score(res: dict) -> float:
        return res["M"]["mAP"] if "M" in res else res["mAP"]

    def _on_figures(self, res: dict) -> None:
        self.figures = res
        self.cancel.setEnabled(False)
        self.status.setText("Measured.")
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
