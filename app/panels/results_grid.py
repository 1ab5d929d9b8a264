"""The grid of ranked results: thumbnails painted by ``ResultDelegate`` over a ``ResultsModel``."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtWidgets import QListView, QWidget

from app.models import PathRole, ResultsModel
from app.views import ResultDelegate


class ResultsGrid(QListView):
    """Virtualised icon grid; reports what the user does with a result as paths."""

    open_requested = Signal(str)  # double-click, or Enter on the current result
    menu_requested = Signal(str, QPoint)  # right-click: path, global position
    near_end = Signal()  # the user scrolled to the end of the list

    def __init__(self, model: ResultsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: heatmap opacity the delegate paints with; None while heatmaps are off
        self.heat_opacity: float | None = None
        self.setModel(model)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        # a header row spans the width, so sizes are not uniform (and there is no fixed grid);
        # the rows are few (the verified matches and a handful of others)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setIconSize(QSize(160, 120))
        self.setSpacing(4)
        self.setMovement(QListView.Movement.Static)
        self.setItemDelegate(ResultDelegate(lambda: self.heat_opacity, self, self._row_width))
        self.setAccessibleName("Search results")
        self.doubleClicked.connect(self._double_clicked)
        self.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)

    def _row_width(self) -> int:
        """The width a header row takes: the whole row, so it starts a line of its own."""
        return self.viewport().width() - 2 * self.spacing() - 1

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        if e.size().width() != e.oldSize().width():
            self.scheduleDelayedItemsLayout()  # header rows follow the new width

    def set_heat_opacity(self, opacity: float | None) -> None:
        self.heat_opacity = opacity
        self.viewport().update()

    def wheelEvent(self, e) -> None:
        bar = self.verticalScrollBar()
        at_end = bar.maximum() > 0 and bar.value() == bar.maximum()
        super().wheelEvent(e)
        if at_end and e.angleDelta().y() < 0:  # still scrolling down at the end
            self.near_end.emit()

    def keyPressEvent(self, e) -> None:
        if e.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            if not e.isAutoRepeat():  # a held key opens it once
                self._double_clicked(self.currentIndex())
            return
        super().keyPressEvent(e)

    def _double_clicked(self, index) -> None:
        if index.data(PathRole):
            self.open_requested.emit(index.data(PathRole))

    def _scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        # only when the user has scrolled: layout passes also move the range at value 0
        if value > 0 and value >= bar.maximum() - bar.pageStep() // 2:
            self.near_end.emit()

    def _menu(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        if index.isValid() and index.data(PathRole):  # not on a header
            self.menu_requested.emit(index.data(PathRole), self.viewport().mapToGlobal(pos))
