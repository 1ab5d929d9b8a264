"""The training wizard's first two pages: what to learn from (labelled folders, or the
library's own photos), and what the labelled data holds.

The report is the engine's ``DatasetReport`` shown as two tables: one row per class (its
usable images and its problems), and every problem with its file name.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTableView,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from app.wizard.folders import pick_file, pick_folder
from app.workers import TaskSlot, Worker
from engine.paths import models_dir


class RowsModel(QAbstractTableModel):
    """Rows of plain values under fixed headers; numbers are right-aligned."""

    def __init__(self, headers: list[str], parent=None) -> None:
        super().__init__(parent)
        self.headers = headers
        self.rows: list[tuple] = []

    def set_rows(self, rows: list[tuple]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        value = self.rows[index.row()][index.column()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(value, int):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers[section]
        return None


def table_view(model: RowsModel) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setWordWrap(False)
    view.verticalHeader().hide()
    head = view.horizontalHeader()
    for col in range(model.columnCount() - 1):
        head.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
    head.setStretchLastSection(True)
    return view


class DataPage(QWizardPage):
    """What the model learns from: labelled data (with an optional exclusion list and where
    the model is saved), or the library's own photos (the next pages mine them)."""

    def __init__(self, library_available: bool = True) -> None:
        super().__init__()
        self.setTitle("Training data")
        self.setSubTitle("What the model learns from.")
        self.labelled = QRadioButton(
            "Labelled photos: a folder with one sub-folder per object or place, "
            "or a Google Landmarks v2 CSV"
        )
        self.from_library = QRadioButton("Improve the model from my photos")
        self.labelled.setChecked(True)
        self.from_library.setEnabled(library_available)
        self.library_note = QLabel(
            "The photos of this library that show the same object or place from different "
            "views are found and checked by their local features; the model the library uses "
            "then learns from them. No labels, nothing downloaded."
            if library_available
            else "Improving the model from your photos needs an open library."
        )
        self.library_note.setWordWrap(True)
        self.library_note.setIndent(24)
        self.path = QLineEdit()
        self.exclude = QLineEdit()
        self.out = QLineEdit(str(models_dir() / "my-model"))
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.labelled)
        # in one widget, so that choosing the library greys out the labels with the fields
        self.labelled_box = QWidget()
        form = QFormLayout(self.labelled_box)
        form.setContentsMargins(24, 0, 0, 0)
        for label, edit, pick in (
            ("Data", self.path, self._pick_data),
            ("Exclude classes (optional)", self.exclude, self._pick_excl),
            ("Save the model in", self.out, self._pick_out),
        ):
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            b = QPushButton("Browse…")
            b.clicked.connect(pick)
            row.addWidget(b)
            if edit is self.path:
                csv_button = QPushButton("GLDv2 CSV…")
                csv_button.clicked.connect(self._pick_csv)
                row.addWidget(csv_button)
            form.addRow(label, row)
        lay.addWidget(self.labelled_box)
        lay.addWidget(self.hint)
        lay.addSpacing(12)
        lay.addWidget(self.from_library)
        lay.addWidget(self.library_note)
        lay.addStretch(1)
        # not mandatory fields ("*"): Qt counts a mandatory line edit as filled only once its
        # text differs from the initial one, so the pre-filled output folder blocked Next
        self.registerField("data", self.path)
        self.registerField("exclude", self.exclude)
        self.registerField("out", self.out)
        for edit in (self.path, self.out):
            edit.textChanged.connect(self._changed)
        self.labelled.toggled.connect(self._source_changed)

    @property
    def source(self) -> str:
        """``library`` (improve the model from the library's photos) or ``labelled``."""
        return "library" if self.from_library.isChecked() else "labelled"

    def _source_changed(self) -> None:
        self.labelled_box.setEnabled(self.labelled.isChecked())
        self._changed()

    def problem(self) -> str | None:
        """Why Next is disabled, or None."""
        if self.source == "library":
            return None
        data = self.path.text().strip()
        if not data:
            return "Choose a training folder or a GLDv2 CSV file."
        if not (os.path.isdir(data) or (data.lower().endswith(".csv") and os.path.isfile(data))):
            return f"{data}: no such folder or CSV file."
        if not self.out.text().strip():
            return "Choose where to save the model."
        return None

    def isComplete(self) -> bool:
        return self.problem() is None

    def _changed(self) -> None:
        problem = self.problem()
        # say nothing until something was typed or chosen
        self.hint.setText(problem if problem and self.path.text().strip() else "")
        self.completeChanged.emit()

    def _pick_data(self) -> None:
        d = pick_folder(self, "Training folder")
        if d:
            self.path.setText(d)

    def _pick_csv(self) -> None:
        f = pick_file(self, "Google Landmarks v2 CSV", "CSV (*.csv)")
        if f:
            self.path.setText(f)

    def _pick_excl(self) -> None:
        f = pick_file(self, "Exclusion list")
        if f:
            self.exclude.setText(f)

    def _pick_out(self) -> None:
        d = pick_folder(self, "Output folder")
        if d:
            self.out.setText(d)


class ReportPage(QWizardPage):
    """The data report (computed off the GUI thread) as tables, and an optional overlap audit."""

    def __init__(self, wizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("What the data holds")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.classes = RowsModel(["Class", "Images", "Problems found"], self)
        self.class_view = table_view(self.classes)
        self.problems = RowsModel(["File", "Class", "Problem"], self)
        self.problem_view = table_view(self.problems)
        self.problem_label = QLabel("Problems")
        self.eval_path = QLineEdit()
        self.eval_path.setPlaceholderText("gnd_*.pkl or a folder-per-class evaluation set")
        self.audit_button = QPushButton("Check overlap with this evaluation set")
        self.audit_button.clicked.connect(self.run_audit)
        self.audit_result = QLabel("")
        self.audit_result.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(self.class_view, 2)
        lay.addWidget(self.problem_label)
        lay.addWidget(self.problem_view, 1)
        row = QHBoxLayout()
        row.addWidget(self.eval_path, 1)
        row.addWidget(self.audit_button)
        lay.addLayout(row)
        lay.addWidget(self.audit_result)
        self.dataset = None
        self.task = TaskSlot(self)

    def initializePage(self) -> None:
        from engine.training import open_dataset

        self.dataset = None
        self.classes.set_rows([])
        self._show_problems([])
        self.audit_result.setText("")
        self.summary.setText("Reading the data…")
        w = Worker(open_dataset, self.field("data"), exclude_file=self.field("exclude") or None)
        w.signals.result.connect(self._on_dataset)
        w.signals.error.connect(lambda m, d: self._on_refused(m))
        self.task.start(w)

    def _on_refused(self, message: str) -> None:
        """The data cannot be trained on: the reason, and nothing that reads as a clean
        report (no "No problems found." under it)."""
        self.summary.setText(
            f"Cannot train on this: {message}\nTraining reads one subfolder per object (two or "
            "more), each holding photos of that object."
        )
        self.problem_label.setText("")
        self.problem_view.setVisible(False)

    def _show_problems(self, rows: list[tuple]) -> None:
        self.problems.set_rows(rows)
        self.problem_view.setVisible(bool(rows))
        self.problem_label.setText(f"Problems ({len(rows)})" if rows else "No problems found.")

    def _on_dataset(self, ds) -> None:
        self.dataset = ds
        rep = ds.report
        self.summary.setText("\n".join(rep.lines()))
        self.classes.set_rows(rep.class_rows())
        self._show_problems([(file, cid, what) for cid, file, what in rep.problems])
        self.completeChanged.emit()
        self.wiz.report_ready.emit(ds)

    def isComplete(self) -> bool:
        return self.dataset is not None

    def run_audit(self) -> None:
        from engine.evaluation import audit

        if self.dataset is None or not self.eval_path.text():
            return
        ex = self.wiz.library.model(self.wiz.model_spec)[0]
        w = Worker(audit, ex, self.dataset, self.eval_path.text())
        w.signals.result.connect(self._on_audit)
        w.signals.error.connect(lambda m, d: self.audit_result.setText(f"Audit failed: {m}"))
        self.audit_result.setText("Checking for overlap…")
        self.task.start(w)

    def _on_audit(self, rep) -> None:
        d = rep.to_dict()
        self.audit_result.setText(
            f"{len(d['overlapping_classes'])} training classes show objects of the evaluation "
            f"set: {', '.join(d['overlapping_classes']) or 'none'}"
        )
        self.wiz.audit_done.emit(rep)
