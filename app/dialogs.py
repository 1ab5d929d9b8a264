"""Dialogs: side-by-side comparison and near-duplicate groups."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .models import evidence_text
from .photo_loader import show_photo
from .views import MatchLines, QueryView
from .workers import TaskSlot, Worker


class CompareDialog(QDialog):
    """Two photos side by side (query and result, or two duplicates).

    ``evidence``: a callable that returns the pair's geometric check (``Library.evidence``),
    run on a worker when the dialog opens; the title then gives the matching points, and
    *Show matching points* draws them as lines from one photo to the other.
    """

    evidence_ready = Signal(object)  # the Verification, once computed

    def __init__(
        self,
        left: str,
        right: str,
        caption: str = "",
        parent=None,
        evidence: Callable[[], object] | None = None,
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


def member_evidence(hit) -> str:
    """A duplicate group member's evidence, read by a person (the similarity if it has none)."""
    if getattr(hit, "inliers", None) is None:
        return f"similarity {hit.score:.3f}"
    return evidence_text(hit) or f"{hit.inliers} matching points, not verified"


def move_to_trash(path: str) -> bool:
    """Move a file to the system trash (never a plain delete)."""
    from PySide6.QtCore import QFile

    return bool(QFile.moveToTrash(path))


class DuplicatesDialog(QDialog):
    """Groups of near-duplicates. "Keep this one" offers to move the others of its group to
    the trash, after a confirmation; "Compare" shows two side by side."""

    trashed = Signal(list)

    def __init__(self, groups: list[list], parent=None, confirm=None, evidence_of=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Near-duplicates")
        self.groups = groups
        self.confirm = confirm or self._ask
        #: ``evidence_of(path, file_id)`` → the pair's check, for *Compare*'s matching points
        self.evidence_of = evidence_of
        self.file_ids = {h.path: h.file_id for g in groups for h in g}
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Photo", "Evidence"])
        self.tree.setAccessibleName("Duplicate groups")
        for i, g in enumerate(groups):
            top = QTreeWidgetItem([f"Group {i + 1}: {len(g)} photos", ""])
            for h in g:
                child = QTreeWidgetItem([h.path, member_evidence(h)])
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
        left, right = sel[0], sel[1][0]
        evidence = None
        if self.evidence_of is not None and right in self.file_ids:
            evidence = partial(self.evidence_of, left, self.file_ids[right])
        dlg = CompareDialog(left, right, parent=self, evidence=evidence)
        dlg.open()
        return dlg
