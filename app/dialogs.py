"""The side-by-side comparison of two photos, with their matching points on request; the list
of photos that could not be indexed."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.photo_loader import show_photo
from app.views import MatchLines, QueryView
from app.workers import TaskSlot, Worker


class CompareDialog(QDialog):
    """Two photos side by side (query and result, or two duplicates).

    ``evidence``: a callable that returns the pair's geometric check (``Library.evidence``),
    run on a worker when the dialog opens; the title then gives the matching points, and
    *Show matching points* draws them as lines from one photo to the other. ``outline``: the
    object's polygon in the right photo's pixels (the search's or the clicked object's), drawn
    over it.
    """

    evidence_ready = Signal(object)  # the Verification, once computed

    def __init__(
        self,
        left: str,
        right: str,
        caption: str = "",
        parent=None,
        evidence: Callable[[], object] | None = None,
        outline: list | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare")
        self.paths = (left, right)
        self.verification = None
        self.task = TaskSlot(self)
        pair = QWidget()
        row = QHBoxLayout(pair)
        self.views = []
        for p in self.paths:
            col = QVBoxLayout()
            view = QueryView()
            view.setToolTip(p)
            show_photo(view, p)  # decoded off the GUI thread, EXIF orientation applied
            col.addWidget(view, 1)
            col.addWidget(QLabel(os.path.basename(p)))
            row.addLayout(col)
            self.views.append(view)
        self.views[1].set_outline(outline)
        self.lines = MatchLines(*self.views, pair)
        self.show_points = QCheckBox("Show matching points")
        self.show_points.setToolTip("Lines between the points the geometric check matched")
        self.show_points.toggled.connect(self._draw_points)
        self.show_points.setVisible(evidence is not None)
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel(caption), 1)
        bottom.addWidget(self.show_points)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        bottom.addWidget(buttons)
        lay = QVBoxLayout(self)
        lay.addWidget(pair, 1)
        lay.addLayout(bottom)
        self.resize(1000, 520)
        if evidence is not None:
            self.setWindowTitle("Compare — checking the matching points…")
            w = Worker(evidence)
            w.signals.result.connect(self._on_evidence)
            w.signals.error.connect(lambda msg, _d: self.setWindowTitle(f"Compare — {msg}"))
            self.task.start(w)

    def _on_evidence(self, v) -> None:
        self.verification = v
        verdict = "verified" if v.verified else "not verified"
        self.setWindowTitle(f"Compare — {v.inliers} matching points ({verdict})")
        self._draw_points(self.show_points.isChecked())
        self.evidence_ready.emit(v)

    def _draw_points(self, on: bool) -> None:
        v = self.verification
        if on and v is not None and v.q_xy is not None and v.p_xy is not None:
            self.lines.set_pairs(v.q_xy, v.p_xy)
        else:
            self.lines.set_pairs([], [])

    def done(self, result: int) -> None:
        self.task.cancel()
        super().done(result)


class FailedPhotosDialog(QDialog):
    """The photos that could not be indexed: a table of file and reason, or a plain sentence
    when there are none. Not modal: the main window stays usable while it is open."""

    def __init__(self, rows: list[tuple[str, str]], parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Failed photos")
        self.setWindowModality(Qt.WindowModality.NonModal)
        n = len(rows)
        self.summary = QLabel(
            f"{n} photo{'s' if n != 1 else ''} could not be indexed." if n else "No failed photos."
        )
        self.table = QTableWidget(n, 2)
        self.table.setAccessibleName("Failed photos")
        self.table.setHorizontalHeaderLabels(["File", "Reason"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a long path keeps its name
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for i, (path, reason) in enumerate(rows):
            name = QTableWidgetItem(path)
            name.setToolTip(path)
            why = QTableWidgetItem(reason)
            why.setToolTip(reason)
            self.table.setItem(i, 0, name)
            self.table.setItem(i, 1, why)
        self.table.setVisible(bool(n))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        lay.addWidget(buttons)
        self.resize(720, 420 if n else 120)


def remove_folder_question(parent, path: str, photos: int) -> QMessageBox:
    """ "Remove folder?" before a folder leaves the library: its ``photos`` are forgotten, the
    files on disk stay (Cancel is the default)."""
    ask = QMessageBox(
        QMessageBox.Icon.Question,
        "Remove folder?",
        f"Remove {os.path.basename(path) or path} from the library?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        parent,
    )
    ask.setInformativeText(
        f"The library forgets its {photos} photo{'s' if photos != 1 else ''}. The files on "
        "disk are not touched, and you can add the folder again later."
    )
    ask.button(QMessageBox.StandardButton.Yes).setText("Remove from library")
    ask.setDefaultButton(QMessageBox.StandardButton.Cancel)
    return ask
