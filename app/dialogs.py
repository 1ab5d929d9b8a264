"""Dialogs: side-by-side comparison and near-duplicate groups."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from .photo_loader import show_photo
from .views import QueryView


class CompareDialog(QDialog):
    """Two photos side by side (query and result, or two duplicates)."""

    def __init__(self, left: str, right: str, caption: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare")
        self.paths = (left, right)
        row = QHBoxLayout()
        for p in self.paths:
            col = QVBoxLayout()
            view = QueryView()
            view.setToolTip(p)
            show_photo(view, p)  # decoded off the GUI thread, EXIF orientation applied
            col.addWidget(view, 1)
            col.addWidget(QLabel(os.path.basename(p)))
            row.addLayout(col)
        lay = QVBoxLayout(self)
        lay.addLayout(row, 1)
        if caption:
            lay.addWidget(QLabel(caption))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(1000, 520)


def move_to_trash(path: str) -> bool:
    """Move a file to the system trash (never a plain delete)."""
    from PySide6.QtCore import QFile

    return bool(QFile.moveToTrash(path))


class DuplicatesDialog(QDialog):
    """Groups of near-duplicates. "Keep this one" offers to move the others of its group to
    the trash, after a confirmation; "Compare" shows two side by side."""

    trashed = Signal(list)

    def __init__(self, groups: list[list], parent=None, confirm=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Near-duplicates")
        self.groups = groups
        self.confirm = confirm or self._ask
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Photo", "Similarity"])
        self.tree.setAccessibleName("Duplicate groups")
        for i, g in enumerate(groups):
            top = QTreeWidgetItem([f"Group {i + 1}: {len(g)} photos", ""])
            for h in g:
                child = QTreeWidgetItem([h.path, f"{h.score:.3f}"])
                child.setData(0, Qt.ItemDataRole.UserRole, h.path)
                top.addChild(child)
            self.tree.addTopLevelItem(top)
        self.tree.expandAll()
        self.tree.resizeColumnToContents(0)
        self.keep_button = QPushButton("Keep this one, trash the others…")
        self.compare_button = QPushButton("Compare with the next")
        self.keep_button.clicked.connect(self.keep_selected)
        self.compare_button.clicked.connect(self.compare_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.keep_button)
        buttons.addWidget(self.compare_button)
        buttons.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addWidget(
            QLabel(
                "No file is deleted without your confirmation; deleted files go "
                "to the system trash."
            )
        )
        lay.addWidget(self.tree, 1)
        lay.addLayout(buttons)
        self.resize(900, 500)
        if groups:
            self.tree.setCurrentItem(self.tree.topLevelItem(0).child(0))

    def _selected(self) -> tuple[str, list[str]] | None:
        item = self.tree.currentItem()
        if item is None or item.parent() is None:
            return None
        keep = item.data(0, Qt.ItemDataRole.UserRole)
        parent = item.parent()
        others = [
            parent.child(i).data(0, Qt.ItemDataRole.UserRole) for i in range(parent.childCount())
        ]
        return keep, [p for p in others if p != keep]

    def _ask(self, keep: str, others: list[str]) -> bool:
        answer = QMessageBox.question(
            self,
            "Move to trash?",
            f"Keep {os.path.basename(keep)} and move {len(others)} other photo(s) to the "
            "trash?\n\n" + "\n".join(others),
        )
        return answer == QMessageBox.StandardButton.Yes

    def keep_selected(self) -> list[str]:
        sel = self._selected()
        if sel is None:
            return []
        keep, others = sel
        if not others or not self.confirm(keep, others):
            return []
        done = [p for p in others if move_to_trash(p)]
        item = self.tree.currentItem().parent()
        for i in reversed(range(item.childCount())):
            if item.child(i).data(0, Qt.ItemDataRole.UserRole) in done:
                item.removeChild(item.child(i))
        self.trashed.emit(done)
        return done

    def compare_selected(self) -> CompareDialog | None:
        sel = self._selected()
        if sel is None or not sel[1]:
            return None
        dlg = CompareDialog(sel[0], sel[1][0], parent=self)
        dlg.open()
        return dlg


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
