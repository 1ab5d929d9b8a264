"""The training wizard's method page: choices pre-set for this machine, and how long they take.

The engine proposes the defaults and the estimate (``engine.training``'s plan); this page shows
them, and re-asks the engine for the estimate whenever a choice changes. When the wizard
improves the library's model from its own photos, the method, backbone and image size are those
of ``starting_config`` (the model it continues), and an epoch is the mined pairs' batches.
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

from app.settings_dialog import choice_combo, device_options, torch_missing
from app.workers import TaskSlot, Worker
from engine.errors import NeedsTorch

#: what the training pages say, in one line, where PyTorch cannot be imported
TRAINING_NEEDS_TORCH = str(NeedsTorch("Training"))


class MethodPage(QWizardPage):
    def __init__(self, wizard=None) -> None:
        from engine.network import BACKBONE_NAMES, architecture_names

        super().__init__()
        self.wiz = wizard
        self.setTitle("Method")
        #: training cannot start here (no PyTorch): the page says so and Next stays off
        self.missing = torch_missing()
        self.method = QComboBox()
        self.method.addItems(architecture_names())
        self.backbone = QComboBox()
        self.backbone.addItems(list(BACKBONE_NAMES))
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
        self.start = None  # the TrainConfig continuing the library's model, or None
        self.mined = None  # the MinedData the library's photos give, or None
        self.task = TaskSlot(self)
        if not self.missing:
            from engine.training import TrainConfig

            self.method.setCurrentText(TrainConfig.method)
        self.method.currentTextChanged.connect(lambda _: self.propose())
        for signal in (
            self.backbone.currentTextChanged,
            self.size.valueChanged,
            self.epochs.valueChanged,
            self.device.currentTextChanged,
            self.batch.valueChanged,
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
        if self.missing:
            self._without_torch(form)
        else:
            self.propose(measure=False)

    def _without_torch(self, form: QFormLayout) -> None:
        """An install without PyTorch: one line under the methods (the torch-free catalog,
        greyed out with that reason) says what to install; the settings that only a plan for
        this machine fills in are not shown, and training cannot start."""
        self.notice.setText(TRAINING_NEEDS_TORCH)
        self.notice.setAccessibleName("Training needs PyTorch")
        self.method.setEnabled(False)
        self.method.setToolTip(f"Unavailable: {TRAINING_NEEDS_TORCH}")
        for w in (self.backbone, self.size, self.epochs, self.batch, self.device):
            form.setRowVisible(w, False)
        self.estimate.setText("")

    def isComplete(self) -> bool:
        """Next starts training: not where PyTorch is missing."""
        return not self.missing and super().isComplete()

    def initializePage(self) -> None:
        if self.missing:
            return
        if self.wiz is not None and self.wiz.source == "library":
            from engine.training import MinedData

            run = self.wiz.mine_page.improvement
            self.start, self.mined = run.start, MinedData(run.mined)
            self.method.blockSignals(True)  # one proposal, below
            self.method.setCurrentText(self.start.method)
            self.method.blockSignals(False)
        else:
            ds = self.wiz.report_page.dataset if self.wiz is not None else None
            self.images = ds.report.images if ds is not None else 0
            self.start = self.mined = None
        self.propose()

    def images_per_epoch(self, batch_size: int) -> int:
        """Photos an epoch trains on: the labelled set's, or the mined pairs' batches (a small
        library's classes are visited several times an epoch, with hard negatives)."""
        if self.mined is None:
            return self.images
        return len(self.mined.epoch_batches(0, batch_size, 0, {})) * batch_size

    def device_choice(self) -> str:
        return self.device.currentData()

    def propose(self, measure: bool = True) -> None:
        """Set every choice to the engine's defaults for this machine and this data (on a GPU,
        ``measure``: time one training step for the estimate)."""
        from engine.training import plan_for_this_machine

        plan = (
            plan_for_this_machine(self.method.currentText(), self.images)
            if self.start is None
            else self._continuing_plan()
        )
        self.plan = plan
        self.backbone.setCurrentText(plan.backbone)
        self.size.setValue(plan.image_size)
        self.epochs.setValue(plan.epochs)
        self.batch.setValue(plan.batch_size)
        self.notice.setText(self._notice())
        self._update_estimate()
        if plan.images_per_s is None and measure:
            self._measure(plan)

    def _notice(self) -> str:
        text = self.plan.notice()
        if self.start is not None:
            s = self.start
            text += (
                f" Training continues the model the library uses ({s.method} on {s.backbone}, "
                f"{s.image_size} px) at a small learning rate; another backbone starts afresh."
            )
        return text

    def _continuing_plan(self):
        """The machine's plan for the library's model: its backbone and image size, as many
        epochs (on the CPU) as fit the time budget at them."""
        from engine.network import device_kind
        from engine.training import available_cores, cpu_images_per_s, propose

        kind, start = device_kind("auto"), self.start
        rate = cpu_images_per_s(start.backbone, start.image_size) if kind == "cpu" else None
        images = self.images_per_epoch(16)
        plan = propose(self.method.currentText(), images, kind, available_cores(), rate)
        return plan.revised(
            backbone=start.backbone,
            image_size=start.image_size,
            images=self.images_per_epoch(plan.batch_size),
        )

    def _measure(self, plan) -> None:
        """Time one training step on the GPU; the estimate follows when it is done."""
        from engine.training import measure_images_per_s

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
        self.notice.setText(self._notice())
        self._update_estimate()

    def current_plan(self):
        """The engine's plan revised to the choices on the page."""
        device = self.device_choice()
        return self.plan.revised(
            images=self.images_per_epoch(self.batch.value()),
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
