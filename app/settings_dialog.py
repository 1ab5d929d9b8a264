"""Settings: model, device, index type, thumbnail size and folders to exclude."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
)


class SettingsDialog(QDialog):
    """Model, device, index type, thumbnail size and folders to exclude."""

    def __init__(self, settings, parent=None) -> None:
        from PySide6.QtWidgets import (
            QComboBox,
            QFileDialog,
            QFormLayout,
            QListWidget,
            QSpinBox,
        )

        from engine.models import list_models

        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.addItems(["default", *list_models()])
        self.model.setCurrentText(settings.model)
        self.model.setToolTip("An architecture name, 'default', or a checkpoint folder")
        browse = QPushButton("Checkpoint…")
        browse.clicked.connect(
            lambda: self.model.setCurrentText(
                QFileDialog.getExistingDirectory(self, "Checkpoint folder")
                or self.model.currentText()
            )
        )
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setCurrentText(settings.device)
        self.index_kind = QComboBox()
        self.index_kind.addItems(["auto", "flat", "hnsw"])
        self.index_kind.setCurrentText(settings.index_kind)
        self.thumb = QSpinBox()
        self.thumb.setRange(64, 512)
        self.thumb.setValue(settings.thumbnail_size)
        self.exclude = QListWidget()
        self.exclude.addItems(settings.exclude)
        add = QPushButton("Add…")
        add.clicked.connect(self._add_exclusion)
        remove = QPushButton("Remove")
        remove.clicked.connect(
            lambda: [
                self.exclude.takeItem(self.exclude.row(i)) for i in self.exclude.selectedItems()
            ]
        )
        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.model, 1)
        row.addWidget(browse)
        form.addRow("Model", row)
        form.addRow("Device", self.device)
        form.addRow("Index", self.index_kind)
        form.addRow("Thumbnail size", self.thumb)
        ex_row = QVBoxLayout()
        ex_row.addWidget(self.exclude)
        b = QHBoxLayout()
        b.addWidget(add)
        b.addWidget(remove)
        ex_row.addLayout(b)
        form.addRow("Folders to exclude", ex_row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(buttons)

    def _add_exclusion(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        d = QFileDialog.getExistingDirectory(self, "Folder to exclude")
        if d:
            self.exclude.addItem(d)

    def values(self):
        import dataclasses

        return dataclasses.replace(
            self.settings,
            model=self.model.currentText().strip() or "default",
            device=self.device.currentText(),
            index_kind=self.index_kind.currentText(),
            thumbnail_size=self.thumb.value(),
            exclude=[self.exclude.item(i).text() for i in range(self.exclude.count())],
        )
