"""Settings: model (and its ImageNet weights), device, index type, thumbnail size and folders to
exclude. Every choice says in one line what it means; choices this machine cannot use are
disabled with the reason."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.made_models import made_models, model_choices
from app.settings import (
    DEFAULT_MODEL_DESCRIPTION,
    DEVICE_DESCRIPTIONS,
    INDEX_AUTO_EXACT,
    INDEX_DESCRIPTIONS,
    KEEP_UP_TO_DATE_HELP,
)
from engine.errors import TRAIN_EXTRA

#: what an install without PyTorch says, in one line, beside what it cannot do
NEEDS_TORCH = f"Training, ImageNet weights and untrained architectures need PyTorch: {TRAIN_EXTRA}"
#: why the GPU is not offered on an install without PyTorch
GPU_NEEDS_TORCH = f"this install runs on the CPU; the GPU needs PyTorch: {TRAIN_EXTRA}"


def torch_missing() -> bool:
    """Whether PyTorch cannot be imported here (the light install). The window has imported
    it already where it exists, so asking costs nothing."""
    from engine.network import torch_available

    return not torch_available()


def choice_combo(options: list[tuple[str, str, str | None]]) -> QComboBox:
    """A combo box of ``(value, description, unavailable reason or None)``: the value is the
    item's data, the description its tooltip; an unavailable item is disabled and says why."""
    combo = QComboBox()
    for value, description, unavailable in options:
        if unavailable:
            combo.addItem(f"{value} — unavailable: {unavailable}", value)
            item = combo.model().item(combo.count() - 1)
            item.setEnabled(False)
            combo.setItemData(
                combo.count() - 1, f"Unavailable: {unavailable}", Qt.ItemDataRole.ToolTipRole
            )
        else:
            combo.addItem(value, value)
            combo.setItemData(combo.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
    return combo


def device_options() -> list[tuple[str, str, str | None]]:
    if torch_missing():
        reason = GPU_NEEDS_TORCH
    else:
        from engine.network import cuda_unavailable_reason

        reason = cuda_unavailable_reason()
    return [
        (d, DEVICE_DESCRIPTIONS[d], reason if d == "cuda" else None) for d in DEVICE_DESCRIPTIONS
    ]


def index_options() -> list[tuple[str, str, str | None]]:
    from engine.library import APPROX_THRESHOLD, hnsw_unavailable

    missing = hnsw_unavailable()  # HNSW is FAISS's; "auto" then stays exact
    texts = {**INDEX_DESCRIPTIONS, **({"auto": INDEX_AUTO_EXACT} if missing else {})}
    return [
        (k, text.format(threshold=APPROX_THRESHOLD), missing if k == "hnsw" else None)
        for k, text in texts.items()
    ]


def model_description(text: str) -> str:
    """One line about a model choice: ``default``, a registered name (``cider:resnet18`` too),
    or a checkpoint folder."""
    from engine.network import ARCHITECTURES

    name = text.strip().split(":", 1)[0]
    if name in ("", "default"):
        return DEFAULT_MODEL_DESCRIPTION
    if name in ARCHITECTURES:
        if torch_missing():
            return f"{ARCHITECTURES[name].summary}. Unavailable: {NEEDS_TORCH}"
        return ARCHITECTURES[name].summary
    if os.path.isdir(text.strip()):
        return f"A checkpoint folder: a model you trained, in {text.strip()}"
    return "Not a known model: choose one from the list or a checkpoint folder"


def _description_label() -> QLabel:
    label = QLabel("")
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(placeholder-text);")
    return label


def _select(combo: QComboBox, value: str) -> None:
    i = combo.findData(value)
    combo.setCurrentIndex(i if i >= 0 else 0)


class SettingsDialog(QDialog):
    """Model, device, index type, thumbnail size and folders to exclude."""

    #: a backbone whose ImageNet weights the user agreed to download
    weights_requested = Signal(str)

    def __init__(self, settings, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.confirm_box: QMessageBox | None = None
        self.torch_missing = torch_missing()
        model_row = self._make_model_choice(settings.model)
        weights_row = self._make_weights_choice()
        self.device = choice_combo(device_options())
        _select(self.device, settings.device)
        self.device_help = _description_label()
        self.index_kind = choice_combo(index_options())
        _select(self.index_kind, settings.index_kind)
        self.index_help = _description_label()
        self._make_thumbnail_size(settings.thumbnail_size)
        exclusions = self._make_exclusions(settings.exclude)
        form = QFormLayout()
        self.torch_note = QLabel(NEEDS_TORCH)  # one sentence, where PyTorch cannot be imported
        self.torch_note.setWordWrap(True)
        self.torch_note.setAccessibleName("Needs PyTorch")
        self.torch_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.torch_note.setVisible(self.torch_missing)
        form.addRow(self.torch_note)
        form.addRow("Model", _stack(model_row, self.model_help))
        form.addRow("ImageNet weights", _stack(weights_row, self.weights_help))
        form.addRow("Device", _stack(self.device, self.device_help))
        form.addRow("Index", _stack(self.index_kind, self.index_help))
        form.addRow("Thumbnail size", _stack(self.thumb, self.thumb_help))
        form.addRow("Folders to exclude", exclusions)
        self.keep_up_to_date = QCheckBox("Keep the library up to date")
        self.keep_up_to_date.setChecked(settings.keep_up_to_date)
        self.keep_up_to_date.setToolTip(KEEP_UP_TO_DATE_HELP)
        form.addRow(self.keep_up_to_date)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)
        self._connect_descriptions()
        self.setMinimumWidth(660 if self.torch_missing else 560)  # the note on one line

    def _make_model_choice(self, current: str) -> QHBoxLayout:
        """The model: ``default``, an architecture (the torch-free catalog; disabled, with the
        reason, where PyTorch is missing), or a checkpoint folder."""
        from engine.network import ARCHITECTURES, architecture_names

        self.model = QComboBox()
        self.model.setEditable(True)
        for name in ("default", *architecture_names()):
            self.model.addItem(name)
            i = self.model.count() - 1
            if name == "default":
                tip = DEFAULT_MODEL_DESCRIPTION
            else:
                a = ARCHITECTURES[name]
                tip = f"{a.summary}\n{a.description}"
                if self.torch_missing:
                    tip = f"Unavailable: {NEEDS_TORCH}\n{tip}"
                    self.model.model().item(i).setEnabled(False)
            self.model.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        for path in model_choices():
            self.add_model(path)
        made_models().added.connect(self.add_model)
        self.model.setCurrentText(current)
        self.model.setToolTip("An architecture name, 'default', or a checkpoint folder")
        self.model_help = _description_label()
        browse = QPushButton("Checkpoint…")
        browse.clicked.connect(
            lambda: self.model.setCurrentText(
                self._pick_folder("Checkpoint folder") or self.model.currentText()
            )
        )
        row = QHBoxLayout()
        row.addWidget(self.model, 1)
        row.addWidget(browse)
        return row

    def add_model(self, path: str) -> None:
        """List a trained model's folder (once), as the wizard writes it."""
        if self.model.findText(path) < 0:
            self.model.addItem(path)
            self.model.setItemData(
                self.model.count() - 1, model_description(path), Qt.ItemDataRole.ToolTipRole
            )

    def trained_models(self) -> list[str]:
        """The checkpoint folders the model list offers."""
        from engine.network import architecture_names

        named = {"default", *architecture_names()}
        texts = (self.model.itemText(i) for i in range(self.model.count()))
        return [t for t in texts if t not in named]

    def _make_weights_choice(self) -> QHBoxLayout:
        """A backbone and the button that downloads its ImageNet weights."""
        from engine.network import BACKBONE_NAMES

        self.backbone = QComboBox()
        self.backbone.addItems(list(BACKBONE_NAMES))
        self.weights_button = QPushButton("Download ImageNet weights…")
        self.weights_button.clicked.connect(self.confirm_download)
        if self.torch_missing:  # only training starts from them
            self.weights_button.setEnabled(False)
            self.weights_button.setToolTip(f"Unavailable: {NEEDS_TORCH}")
        self.weights_help = _description_label()
        row = QHBoxLayout()
        row.addWidget(self.backbone)
        row.addWidget(self.weights_button)
        row.addStretch(1)
        return row

    def _make_thumbnail_size(self, size: int) -> None:
        self.thumb = QSpinBox()
        self.thumb.setRange(64, 512)
        self.thumb.setValue(size)
        self.thumb.setSuffix(" px")
        self.thumb_help = _description_label()
        self.thumb_help.setText("The long side of the result thumbnails")
        self.thumb.setToolTip(self.thumb_help.text())

    def _make_exclusions(self, folders: list[str]) -> QVBoxLayout:
        """The folders never indexed, with Add… and Remove."""
        self.exclude = QListWidget()
        self.exclude.addItems(folders)
        self.exclude.setMaximumHeight(90)
        add = QPushButton("Add…")
        add.clicked.connect(self._add_exclusion)
        remove = QPushButton("Remove")
        remove.clicked.connect(
            lambda: [
                self.exclude.takeItem(self.exclude.row(i)) for i in self.exclude.selectedItems()
            ]
        )
        self.exclude_help = _description_label()
        self.exclude_help.setText(
            "Photos under these folders are never indexed, even inside a library folder"
        )
        self.exclude.setToolTip(self.exclude_help.text())
        column = QVBoxLayout()
        column.addWidget(self.exclude_help)
        column.addWidget(self.exclude)
        b = QHBoxLayout()
        b.addWidget(add)
        b.addWidget(remove)
        b.addStretch(1)
        column.addLayout(b)
        return column

    def _connect_descriptions(self) -> None:
        """Each choice's line follows it; shown for the current choices now."""
        self.model.currentTextChanged.connect(self._model_changed)
        self.backbone.currentTextChanged.connect(self._weights_changed)
        self.device.currentIndexChanged.connect(
            lambda: self._describe(self.device, self.device_help)
        )
        self.index_kind.currentIndexChanged.connect(
            lambda: self._describe(self.index_kind, self.index_help)
        )
        self._model_changed(self.model.currentText())
        self._describe(self.device, self.device_help)
        self._describe(self.index_kind, self.index_help)

    # ---------------------------------------------------------------- descriptions

    @staticmethod
    def _describe(combo: QComboBox, label: QLabel) -> None:
        label.setText(combo.itemData(combo.currentIndex(), Qt.ItemDataRole.ToolTipRole) or "")

    def _model_changed(self, text: str) -> None:
        from engine.network import BACKBONE_NAMES

        self.model_help.setText(model_description(text))
        named = text.strip().split(":", 1)[1] if ":" in text else ""
        self.backbone.setCurrentText(named if named in BACKBONE_NAMES else "resnet50")
        self._weights_changed(self.backbone.currentText())

    def _weights_changed(self, backbone: str) -> None:
        from engine.network import weights_info, weights_present

        info = weights_info(backbone)
        size = f"{info.size_mb:.0f} MB" if info.size_mb is not None else "size unknown"
        have = weights_present(backbone)
        if self.torch_missing:
            self.weights_help.setText(f"{size} from {info.host}; only training uses them (above)")
            return
        self.weights_help.setText(
            f"{size} from {info.host}, checked against its checksum; training starts from them "
            "instead of random weights" + (" (already downloaded)" if have else "")
        )

    # ---------------------------------------------------------------- ImageNet weights

    def confirm_download(self) -> None:
        """Ask before downloading; ``weights_requested`` only after Yes."""
        from engine.network import weights_info

        backbone = self.backbone.currentText()
        info = weights_info(backbone)
        size = f"{info.size_mb:.0f} MB" if info.size_mb is not None else "an unknown size"
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Download ImageNet weights?",
            f"Download the ImageNet weights of {backbone} ({size}) from {info.host}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setInformativeText(
            f"{info.url}\nThe file is checked against its checksum and kept only if it matches."
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setEscapeButton(QMessageBox.StandardButton.No)
        yes = box.button(QMessageBox.StandardButton.Yes)
        box.buttonClicked.connect(
            lambda b: self.weights_requested.emit(backbone) if b is yes else None
        )
        self.confirm_box = box
        box.open()

    # ---------------------------------------------------------------- values

    def _pick_folder(self, title: str) -> str:
        """A folder chosen in a dialog that opens where the last one was left (or Pictures)."""
        d = QFileDialog.getExistingDirectory(self, title, self.settings.start_folder())
        if d:
            self.settings.remember_folder(d)
        return d

    def _add_exclusion(self) -> None:
        d = self._pick_folder("Folder to exclude")
        if d:
            self.exclude.addItem(d)

    def values(self):
        import dataclasses

        return dataclasses.replace(
            self.settings,
            model=self.model.currentText().strip() or "default",
            device=self.device.currentData(),
            index_kind=self.index_kind.currentData(),
            thumbnail_size=self.thumb.value(),
            exclude=[self.exclude.item(i).text() for i in range(self.exclude.count())],
            keep_up_to_date=self.keep_up_to_date.isChecked(),
        )


def _stack(top, below: QLabel) -> QWidget:
    """``top`` (a widget or a layout) with a description line under it."""
    w = QWidget()
    lay = QVBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(2)
    if isinstance(top, QWidget):
        lay.addWidget(top)
    else:
        lay.addLayout(top)
    lay.addWidget(below)
    return w
