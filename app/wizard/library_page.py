"""The training wizard's "Improve the model from my photos": no labels, the library's own photos.

The engine does the work (``engine.library``), on worker threads: ``mine`` finds the
verified matches and ``require_enough`` says whether they suffice
(:class:`MinePage`); the method page proposes ``starting_config`` of the library's model; the
training page runs :meth:`Improvement.train` — ``improve_model`` on the pairs already mined:
the held-out recall of the current model, training, the recall of the trained one — and
:class:`ImprovedPage` shows the two figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from app.wizard.data_page import RowsModel, table_view
from app.wizard.folders import pick_folder
from app.workers import TaskSlot, Worker
from engine.paths import models_dir

#: what the table shows of ``MinedSet.counts``, in this order
COUNT_ROWS = (
    ("photos_checked", "Photos checked"),
    ("pairs", "Verified pairs (the same thing from another view)"),
    ("photos_with_a_positive", "Photos with a match"),
    ("classes", "Groups (photos of one object or place)"),
    ("held_out_photos", "Photos held out to measure the model"),
    ("negatives", "Hard negatives (look alike, but do not match)"),
    ("near_duplicate_pairs", "Near-duplicate pairs left out"),
)
ADVICE = (
    "What to do: add more photos of the same places or objects, taken from different "
    "views (three or more of each of several), index them, and open this again."
)


def new_folder(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``… : the first that does not exist yet."""
    n, path = 1, base
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def mine_library(library, spec: str | None, progress, should_stop):
    """(the mined set, the training config that continues the library's model)."""
    from engine.library import mine, starting_config

    progress(0, 0, "Loading the library's model…")
    served = library.model(spec)[1].spec
    mined = mine(library, spec, 0, progress, should_stop)
    return mined, starting_config(served)


@dataclass
class Improved:
    """What training on the mined pairs gave (``TrainResult``'s fields and the figures)."""

    epochs_done: int
    history: list[dict]
    cancelled: bool
    before: dict
    after: dict | None = None
    model: str = ""
    mined: dict = field(default_factory=dict)
    #: ``{"better": bool, "why": sentence}``: the new model against the model in use
    verdict: dict = field(default_factory=dict)
    #: why training stopped with a loss that was not finite (the last good model kept)
    diverged: str | None = None
    started_from: str = ""


class Improvement:
    """One run of "Improve the model from my photos" over a mined set; Resume continues it."""

    def __init__(self, mined, start, library) -> None:
        self.mined = mined
        self.start = start  # the TrainConfig from starting_config
        self.library = library

    def config(self, choices: dict, overrides: dict):
        """``library_config`` (AdamW at the small rate ``train library`` uses) with the page's
        choices and the caller's ``overrides`` (any part's fields)."""
        from engine.library import library_config
        from engine.training import TrainConfig

        cfg = library_config(self.start.init_from, **choices)
        return TrainConfig.from_dict({**cfg.to_dict(), **overrides})

    def train(self, choices, overrides, out, resume, on_record, progress, should_stop):
        """The training page's job: ``improve_model`` on the pairs mined already."""
        from engine.library import improve_model

        figures = improve_model(
            self.library,
            out,
            self.config(choices, overrides),
            resume=resume,
            progress=progress,
            should_stop=should_stop,
            on_record=on_record,
            mined=self.mined,
        )
        return Improved(
            figures["epochs"],
            figures["history"],
            figures["cancelled"],
            figures["before"],
            figures.get("after"),
            figures["model"],
            figures["mined"],
            figures.get("verdict", {}),
            figures.get("diverged"),
            figures.get("started_from", ""),
        )


class MinePage(QWizardPage):
    """Mines the library (cancellable), then shows what it found, or why it is not enough."""

    def __init__(self, wizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Verified matches in your photos")
        self.setSubTitle(
            "Each photo is searched for among the others; the pairs its local features verify "
            "(the same object or place from another view) are what the model learns from."
        )
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(lambda: self.task.stop())
        self.again = QPushButton("Check again")
        self.again.clicked.connect(self.start)
        self.counts = RowsModel(["What was found", "Count"], self)
        self.view = table_view(self.counts)
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.out = QLineEdit(str(new_folder(models_dir() / "improved-model")))
        self.out.textChanged.connect(self.completeChanged)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._pick_out)
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel)
        row.addWidget(self.again)
        lay.addLayout(row)
        lay.addWidget(self.status)
        lay.addWidget(self.view)
        lay.addWidget(self.message)
        lay.addStretch(1)
        self.out_row = QWidget()
        row = QHBoxLayout(self.out_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Save the model in"))
        row.addWidget(self.out, 1)
        row.addWidget(browse)
        lay.addWidget(self.out_row)
        self.task = TaskSlot(self, wizard.pool)
        self.mined = None
        self.improvement: Improvement | None = None
        self.problem: str | None = None

    def initializePage(self) -> None:
        if self.mined is None and not self.task.busy():
            self.start()

    def start(self) -> None:
        self.mined = self.improvement = self.problem = None
        self.counts.set_rows([])
        self.view.hide()
        self.message.setText("")
        self.status.setText("Checking the library's photos for verified matches…")
        self.bar.setRange(0, 0)
        self.cancel.setEnabled(True)
        self.again.setEnabled(False)
        self.completeChanged.emit()
        w = Worker(mine_library, self.wiz.library, self.wiz.model_spec)
        w.signals.progress.connect(self._on_progress)
        w.signals.result.connect(self._on_mined)
        w.signals.error.connect(self._on_error)
        self.task.start(w)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        self.bar.setRange(0, max(total, 0))
        self.bar.setValue(done)
        self.status.setText(message[:1].upper() + message[1:])

    def _on_mined(self, found) -> None:
        from engine.library import NotEnoughPairs, require_enough

        mined, start = found
        c = mined.counts
        self.counts.set_rows([(label, int(c[key])) for key, label in COUNT_ROWS])
        self.view.resizeRowsToContents()
        v = self.view
        v.setFixedHeight(
            v.horizontalHeader().height() + v.verticalHeader().length() + 2 * v.frameWidth()
        )
        v.show()
        if c.get("cancelled"):
            self._finished(
                f"Cancelled after {c['photos_checked']} of {c['photos_in_library']} photos: "
                "what they gave is kept below; Check again starts over."
            )
        else:
            self._finished(f"{c['photos_checked']} photos checked in {c['seconds']:.0f} s.")
        try:
            require_enough(mined)
        except NotEnoughPairs as e:
            self.problem = str(e)
            self.message.setText(f"Not enough to learn from: {e}.\n\n{ADVICE}")
            self.out_row.hide()
        else:
            self.mined = mined
            self.improvement = Improvement(mined, start, self.wiz.library)
            self.out_row.show()
            self.message.setText(
                f"The model the library uses ({start.method} on {start.backbone}) learns from "
                "these pairs; the photos held out measure it before and after."
            )
        self.completeChanged.emit()
        self.wiz.mined_ready.emit(mined)

    def _on_error(self, message: str, _details: str) -> None:
        cancelled = "cancelled" in message
        self._finished("Cancelled — Check again starts over." if cancelled else "")
        if not cancelled:
            self.message.setText(f"Cannot check the library: {message}")

    def _finished(self, text: str) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.status.setText(text)
        self.cancel.setEnabled(False)
        self.again.setEnabled(True)

    def isComplete(self) -> bool:
        return self.improvement is not None and bool(self.out.text().strip())

    def _pick_out(self) -> None:
        d = pick_folder(self, "Output folder")
        if d:
            self.out.setText(d)


def figure(figures: dict | None, key: str) -> str:
    """A recall as shown: two decimals, or "not measured"."""
    v = (figures or {}).get(key)
    return "not measured" if v is None or math.isnan(v) else f"{v:.2f}"


def recall_text(res: Improved, key: str = "recall@10") -> str:
    return (
        f"{key} of held-out verified matches: model in use {figure(res.before, key)}, "
        f"new model {figure(res.after, key)}"
    )


#: the comparison's rows: (label, key in the figures)
COMPARE_ROWS = (
    ("recall@10 (share of its verified matches in the first 10)", "recall@10"),
    ("recall@1 (the first result is a verified match)", "recall@1"),
    ("Held-out photos searched", "queries"),
)


class ImprovedPage(QWizardPage):
    """The new model and the model in use side by side on the held-out verified matches (photos
    neither was trained on with this run); *Use this model* is never ticked for the person and
    is offered only when the new model is better, on enough held-out photos."""

    def __init__(self, wizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("The new model against the model in use")
        self.headline = QLabel("")
        self.headline.setWordWrap(True)
        font = self.headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.headline.setFont(font)
        self.compare = RowsModel(["Held-out verified matches", "Model in use", "New model"], self)
        self.table = table_view(self.compare)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.use = QCheckBox(
            "Use this model (the library is re-indexed in the background; "
            "searches keep using the current model until it is done)"
        )
        self.why_not = QLabel("")  # why "Use this model" is not offered
        self.why_not.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.headline)
        lay.addWidget(self.table)
        lay.addWidget(self.details)
        self.text.setMaximumHeight(140)  # the epochs' lines; the comparison comes first
        lay.addWidget(self.text)
        lay.addStretch(1)
        lay.addWidget(self.use)
        lay.addWidget(self.why_not)
        self.task = TaskSlot(self)  # nothing runs here; the wizard waits on every page's

    def initializePage(self) -> None:
        res: Improved = self.wiz.train_page.result
        before, after = res.before, res.after or {}
        verdict = res.verdict or {"better": False, "why": "the models were not compared"}
        better = bool(verdict.get("better"))
        self.headline.setText(
            ("The new model is better" if better else "Keep the model in use")
            + f": {verdict['why']}."
        )

        def cell(figures: dict, key: str) -> str:
            return str(figures.get(key, 0)) if key == "queries" else figure(figures, key)

        self.compare.set_rows(
            [(label, cell(before, key), cell(after, key)) for label, key in COMPARE_ROWS]
        )
        self.table.resizeColumnsToContents()
        self.table.resizeRowsToContents()
        t = self.table
        t.setFixedHeight(
            t.horizontalHeader().height() + t.verticalHeader().length() + 2 * t.frameWidth()
        )
        in_use = res.started_from or "the library's model"
        self.details.setText(
            f"Model in use: {in_use}. New model: {res.model}. Each held-out photo (kept out of "
            "training) is searched among the "
            f"{len(self.wiz.mine_page.mined.photos)} photos checked, with the global model alone."
        )
        self.text.setPlainText(
            "\n".join(
                f"epoch {h['epoch'] + 1}: loss {h['loss']:.4f}, held-out recall@10 "
                f"{h['val_accuracy']:.2f}"
                for h in res.history
            )
            + (f"\n\n{res.diverged}" if res.diverged else "")
        )
        self.use.setChecked(False)  # the person decides, never the wizard
        self.use.setEnabled(better)
        self.why_not.setText("" if better else f"Not offered: {verdict['why']}.")
        self.why_not.setVisible(not better)
