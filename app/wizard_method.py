"""The training wizard's method page: choices pre-set for this machine, and how long they take.

The engine proposes the defaults and the estimate (``engine.training.plan``); this page shows
them, and re-asks the engine for the estimate whenever a choice changes.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWizardPage,
)

from .settings_dialog import choice_combo, device_options
from .workers import TaskSlot, Worker


class MethodPage(QWizardPage):
    def __init__(self, wizard=None) -> None:
        from engine.models import list_models
        from engine.models.backbones import BACKBONES
        from engine.training.config import TrainConfig

        super().__init__()
        self.wiz = wizard
        self.setTitle("Method")
        self.method = QComboBox()
        self.method.addItems(list_models())
        self.backbone = QComboBox()
        self.backbone.addItems(list(BACKBONES))
        self.size = QSpinBox()
        self.size.setRange(32, 2048)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.batch = QSpinBox()
        self.batch.setRange(2, 1024)
        self.device = choice_combo(device_options())
        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.estimate = QLabel("")
        self.estimate.setWordWrap(True)
        self.plan = None
        self.images = 0
        self.task = TaskSlot(self)
        self.method.setCurrentText(TrainConfig.method)
        self.method.currentTextChanged.connect(lambda _: self.propose())
        for signal in (
            self.backbone.currentTextChanged,
            self.size.valueChanged,
            self.epochs.valueChanged,
            self.device.currentTextChanged,
        ):
            signal.connect(self._update_estimate)
        form = QFormLayout()
        for label, w in (
            ("Method", self.method),
            ("Backbone", self.backbone),
            ("Image size", self.size),
            ("Epochs", self.epochs),
            ("Batch size", self.batch),
            ("Device", self.device),
        ):
            form.addRow(label, w)
        # under the form, not in it: a form row keeps a word-wrapped label at its first height
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.notice)
        lay.addWidget(self.estimate)
        lay.addStretch(1)
        self.propose(measure=False)

    def initializePage(self) -> None:
        ds = self.wiz.report_page.dataset if self.wiz is not None else None
        self.images = ds.report.images if ds is not None else 0
        self.propose()

    def device_choice(self) -> str:
        return self.device.currentData()

    def propose(self, measure: bool = True) -> None:
        """Set every choice to the engine's defaults for this machine and this data (on a GPU,
        ``measure``: time one training step for the estimate)."""
        from engine.training.plan import plan_for_this_machine

        plan = plan_for_this_machine(self.method.currentText(), self.images)
        self.plan = plan
        self.backbone.setCurrentText(plan.backbone)
        self.size.setValue(plan.image_size)
        self.epochs.setValue(plan.epochs)
        self.batch.setValue(plan.batch_size)
        self.notice.setText(plan.notice())
        self._update_estimate()
        if plan.images_per_s is None and measure:
            self._measure(plan)

    def _measure(self, plan) -> None:
        """Time one training step on the GPU; the estimate follows when it is done."""
        from engine.training.plan import measure_images_per_s

        w = Worker(
            measure_images_per_s,
            plan.method,
            plan.backbone,
            plan.image_size,
            min(plan.batch_size, 8),  # small enough for any GPU's memory
            plan.device,
        )
        w.signals.result.connect(self._measured)
        w.signals.error.connect(
            lambda m, d: self.estimate.setText(f"Estimated duration: unknown ({m})")
        )
        self.task.start(w)

    def _measured(self, images_per_s: float) -> None:
        """The GPU's throughput for the proposed settings; the choices on the page stay."""
        self.plan = dataclasses.replace(self.plan, images_per_s=images_per_s)
        self.notice.setText(self.plan.notice())
        self._update_estimate()

    def current_plan(self):
        """The engine's plan revised to the choices on the page."""
        device = self.device_choice()
        return self.plan.revised(
            backbone=self.backbone.currentText(),
            image_size=self.size.value(),
            epochs=self.epochs.value(),
            device=self.plan.device if device == "auto" else device,
        )

    def _update_estimate(self) -> None:
        if self.plan is None:
            return
        plan = self.current_plan()
        if plan.seconds is None:
            self.estimate.setText("Estimated duration: measuring one training step…")
            return
        text = (
            f"Estimated duration: {plan.duration} ({plan.images} photos × {plan.epochs} "
            f"epochs at about {plan.images_per_s:.1f} photos/s on the {plan.device.upper()})"
        )
        proposed = self.plan.seconds if self.plan.device == "cpu" else None
        if plan.device == "cpu" and proposed is not None and plan.seconds > 2 * proposed + 60:
            text += " — much longer than the defaults proposed for this CPU"
        self.estimate.setText(text)
