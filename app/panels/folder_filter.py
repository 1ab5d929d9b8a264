"""The search's "Show results from": All folders, or one of the library's folders."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget

from app.models import folder_label, folder_name


class FolderFilter(QComboBox):
    """The library's folders named as the library list names them, the full path as tooltip;
    the chosen folder (None: all) is the item's data. A folder that is chosen shows it: the box
    is highlighted (it stays across queries)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sample_folder: str | None = None  # the bundled photos, named "Sample photos"
        self.setAccessibleName("Show results from")
        self.addItem("All folders", None)
        self.setToolTip("Only show results from this folder")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(10)
        self.currentIndexChanged.connect(self._mark)

    def folder(self) -> str | None:
        """The folder results are narrowed to; None: all of them."""
        return self.currentData()

    def folder_name(self) -> str | None:
        folder = self.folder()
        return None if folder is None else folder_name(folder, self.sample_folder)

    def select(self, folder: str | None) -> None:
        """Choose ``folder`` (All folders when it is not listed) without signalling a change."""
        self.blockSignals(True)
        self.setCurrentIndex(max(self.findData(folder), 0))
        self.blockSignals(False)
        self._mark()

    def _mark(self) -> None:
        on = self.folder() is not None
        self.setStyleSheet("QComboBox { font-weight: bold; }" if on else "")

    def set_folders(self, rows: list[dict]) -> None:
        """The library's folders (rows of ``Library.status()["folders"]``); the chosen one
        stays chosen while it is listed."""
        current = self.folder()
        have = [self.itemData(i) for i in range(1, self.count())]
        if have == [r["path"] for r in rows]:
            return
        self.blockSignals(True)
        self.clear()
        self.addItem("All folders", None)
        for i, r in enumerate(rows, start=1):
            self.addItem(folder_label(r["path"], self.sample_folder), r["path"])
            self.setItemData(i, r["path"], Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(max(self.findData(current), 0))
        self.blockSignals(False)
