"""Thin Qt models over plain engine data (search hits, library folders)."""

from __future__ import annotations

import os

from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, Qt

from .thumbnails import ThumbnailCache

PathRole = Qt.ItemDataRole.UserRole + 1
ScoreRole = Qt.ItemDataRole.UserRole + 2
RankRole = Qt.ItemDataRole.UserRole + 3
OutlineRole = Qt.ItemDataRole.UserRole + 4  # ((x0, y0, x1, y1), (W, H)) of a localized object
HeatRole = Qt.ItemDataRole.UserRole + 5  # QImage RGBA heatmap over the photo


class ResultsModel(QAbstractListModel):
    """Ranked search hits (``engine.library.Hit``); thumbnails come from a cache."""

    def __init__(self, thumbnails: ThumbnailCache | None = None, parent=None) -> None:
        super().__init__(parent)
        self.hits: list = []
        self._row_of: dict[str, int] = {}
        self.outlines: dict[str, tuple] = {}
        self.heats: dict[str, object] = {}
        self.thumbnails = thumbnails
        if thumbnails is not None:
            thumbnails.ready.connect(self._thumbnail_ready)

    def set_rows(self, hits: list) -> None:
        self.beginResetModel()
        self.hits = list(hits)
        self._row_of = {h.path: i for i, h in enumerate(self.hits)}
        self.outlines: dict[str, tuple] = {}
        self.heats: dict[str, object] = {}
        self.endResetModel()

    def set_outline(self, path: str, outline) -> None:
        """Targeted update: one result's localized box (or None to clear)."""
        self.outlines[path] = outline
        self._changed(path, OutlineRole)

    def set_heat(self, path: str, image) -> None:
        self.heats[path] = image
        self._changed(path, HeatRole)

    def clear_outlines(self) -> None:
        self.outlines = {}
        if self.hits:
            self.dataChanged.emit(self.index(0), self.index(len(self.hits) - 1), [OutlineRole])

    def _changed(self, path: str, role: int) -> None:
        row = self._row_of.get(path)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [role])

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.hits)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.hits):
            return None
        h = self.hits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{index.row() + 1}. {h.score:.3f}\n{os.path.basename(h.path)}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{h.path}\nscore {h.score:.4f}"
        if role == Qt.ItemDataRole.DecorationRole and self.thumbnails is not None:
            return self.thumbnails.get(h.path)
        if role == PathRole:
            return h.path
        if role == ScoreRole:
            return h.score
        if role == RankRole:
            return index.row() + 1
        if role == OutlineRole:
            return self.outlines.get(h.path)
        if role == HeatRole:
            return self.heats.get(h.path)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"result {index.row() + 1}, score {h.score:.2f}, {os.path.basename(h.path)}"
        return None

    def _thumbnail_ready(self, path: str) -> None:
        row = self._row_of.get(path)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])

    def paths(self) -> list[str]:
        return [h.path for h in self.hits]


class FoldersModel(QAbstractTableModel):
    """Library folders with their counts (rows of ``Library.status()["folders"]``)."""

    COLUMNS = ("Folder", "Indexed", "Pending", "Failed")
    KEYS = ("path", "indexed", "pending", "failed")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[dict] = []

    def set_rows(self, rows: list[dict]) -> None:
        if [r["path"] for r in rows] == [r["path"] for r in self.rows]:
            self.rows = list(rows)  # same folders: targeted update
            if rows:
                self.dataChanged.emit(
                    self.index(0, 0), self.index(len(rows) - 1, len(self.COLUMNS) - 1)
                )
            return
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        key = self.KEYS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            value = row[key]
            if key == "path" and not row.get("exists", True):
                return f"{value} (missing)"
            return value
        if role == PathRole:
            return row["path"]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None
