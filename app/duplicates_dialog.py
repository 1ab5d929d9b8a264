"""Near-duplicate groups as thumbnails, each photo with its evidence; trashing asks first.

Copies (the same picture: resized, recompressed, cropped, rotated, colour-adjusted,
watermarked) and *similar shots* (bursts, another shot from the same spot) are two lists: a
similar shot is never a copy, and nothing of either is chosen for the trash. After a trash the
lists say how many photos each group still holds; a group left with one photo is done.
While the groups are found, ``DuplicatesProgress`` shows the stage, the rate and the time left
(the engine's message) and *Stop* keeps the groups of the pairs checked so far.

Nothing destructive is preselected: a group is shown, but no photo is chosen until the user
clicks one, and *Close* is the default button. What would go is the engine's decision
(``DuplicateGroup.trash_plan``, made from the disk when the user asks: never the kept file or
another link to it, never a file outside the indexed folders). The confirmation names the
photo that stays, lists every file that would go to the trash and every other one that stays
(with why) in bounded, scrollable lists whose buttons always stay visible; *Cancel* is its
default. Files go to the system trash, never a plain delete.
"""

from __future__ import annotations

import os
from functools import partial

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.dialogs import CompareDialog
from app.models import evidence_text
from app.trash_confirmation import TrashConfirmation, _bounded
from engine.library import DuplicateGroup

#: the two kinds of group, in the order they are listed, and how each is named
KINDS = {"copies": "Copies", "similar": "Similar shots"}

#: a group this large is more likely a false grouping than a burst of copies: say so
LARGE_GROUP = 8
PathRole = Qt.ItemDataRole.UserRole


def member_evidence(hit) -> str:
    """A duplicate group member's evidence, read by a person (the similarity if it has none)."""
    if getattr(hit, "inliers", None) is None:
        return f"similarity {hit.score:.3f}"
    return evidence_text(hit) or f"{hit.inliers} matching points, not verified"


def member_place(hit) -> str:
    """Where a member is and how large, to choose which copy to keep: its folder's name and
    its size in pixels."""
    folder = os.path.basename(os.path.dirname(hit.path)) or os.path.dirname(hit.path)
    w, h = getattr(hit, "width", None), getattr(hit, "height", None)
    return f"in {folder}" + (f" · {w}×{h}" if w and h else "")


def member_links(hit) -> str:
    """A member's other paths (links to the same file) and whether it is kept out of the trash,
    in a few words ("" when neither)."""
    links, parts = getattr(hit, "links", []), []
    if links:
        parts.append(f"+{len(links)} link{'s' if len(links) != 1 else ''} to this file")
    if getattr(hit, "outside", False):
        parts.append("outside the indexed folders: never trashed")
    return " · ".join(parts)


def move_to_trash(path: str) -> bool:
    """Move a file to the system trash (never a plain delete)."""
    from PySide6.QtCore import QFile

    return bool(QFile.moveToTrash(path))


class DuplicatesDialog(QDialog):
    """Groups of copies and of similar shots, in two lists, and the chosen group's photos as
    thumbnails with their evidence. "Keep the selected photo" offers to trash the others of
    its group."""

    trashed = Signal(list)

    def __init__(
        self, groups: list[list], parent=None, confirm=None, evidence_of=None, thumbnails=None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Near-duplicates")
        # a group made by hand (plain hits) protects the kept file and its links only
        self.groups = [
            DuplicateGroup(
                list(g),
                getattr(g, "pairs", []),
                getattr(g, "roots", None),
                getattr(g, "kind", "copies"),
            )
            for g in groups
        ]
        #: whether the search was stopped before every pair was checked
        self.stopped = bool(getattr(groups, "stopped", False))
        #: ``confirm(keep, others) -> bool``; by default the bounded ``TrashConfirmation``
        self.confirm = confirm or self._ask
        self.last_confirmation: TrashConfirmation | None = None
        #: what the last *Keep* would move and leave (``TrashPlan``)
        self.plan = None
        #: ``evidence_of(path, file_id)`` → the pair's check, for *Compare*'s matching points
        self.evidence_of = evidence_of
        self.thumbnails = thumbnails
        self.file_ids = {h.path: h.file_id for g in groups for h in g}
        #: kind → the indices in ``groups`` its list shows, in order
        self.rows = {k: [i for i, g in enumerate(self.groups) if g.kind == k] for k in KINDS}
        self.current = -1  # the index in ``groups`` shown
        self.group_list = QListWidget()
        self.group_list.setAccessibleName("Duplicate groups")
        self.similar_list = QListWidget()
        self.similar_list.setAccessibleName("Similar shots")
        self.lists = {"copies": self.group_list, "similar": self.similar_list}
        self.list_titles = {k: QLabel() for k in KINDS}
        self.photos = QListWidget()
        self.photos.setAccessibleName("Photos in the group")
        self.photos.setViewMode(QListView.ViewMode.IconMode)
        self.photos.setResizeMode(QListView.ResizeMode.Adjust)
        self.photos.setMovement(QListView.Movement.Static)
        self.photos.setIconSize(QSize(160, 120))
        self.photos.setGridSize(QSize(200, 205))
        self.photos.setWordWrap(True)
        self.photos.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #a05000;")
        self.keep_button = QPushButton("Keep the selected photo, trash the others…")
        self.compare_button = QPushButton("Compare with the next")
        for b in (self.keep_button, self.compare_button):
            b.setAutoDefault(False)
        self.keep_button.clicked.connect(self.keep_selected)
        self.compare_button.clicked.connect(self.compare_selected)
        close = QPushButton("Close")
        close.setDefault(True)
        close.clicked.connect(self.accept)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self._lay_out(close)
        for kind, widget in self.lists.items():
            widget.currentRowChanged.connect(partial(self._row_chosen, kind))
        self.photos.itemSelectionChanged.connect(self._update_buttons)
        if thumbnails is not None:
            thumbnails.ready.connect(self._thumbnail_ready)
        _bounded(self, 960, 600)
        self._refresh_counts()
        if self.rows["copies"]:
            self.group_list.setCurrentRow(0)  # shows the photos; chooses none of them
        elif self.rows["similar"]:
            self.similar_list.setCurrentRow(0)
        self._update_buttons()
        close.setFocus()

    def _lay_out(self, close: QPushButton) -> None:
        """The two lists on the left, the chosen group's photos on the right, buttons below."""
        buttons = QHBoxLayout()
        buttons.addWidget(self.keep_button)
        buttons.addWidget(self.compare_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        split = QSplitter()
        left = QWidget()
        lists = QVBoxLayout(left)
        lists.setContentsMargins(0, 0, 0, 0)
        for kind, widget in self.lists.items():
            self.list_titles[kind].setWordWrap(True)
            lists.addWidget(self.list_titles[kind])
            lists.addWidget(widget, 1)
        split.addWidget(left)
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.warning)
        column.addWidget(self.photos, 1)
        split.addWidget(right)
        split.setStretchFactor(1, 4)
        split.setSizes([220, 680])
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(split, 1)
        lay.addLayout(buttons)

    # ---------------------------------------------------------------- showing

    def _open_groups(self, kind: str) -> int:
        """How many groups of ``kind`` still hold two photos or more."""
        return sum(len(self.groups[i]) > 1 for i in self.rows[kind])

    def _refresh_counts(self) -> None:
        """The lists' lines and titles and the summary, from the groups as they are now (after
        a trash, a group holds fewer photos; one left with a single photo is done)."""
        for kind, widget in self.lists.items():
            for row, i in enumerate(self.rows[kind]):
                n = len(self.groups[i])
                text = (
                    f"Group {row + 1} · {n} photos"
                    if n > 1
                    else f"Group {row + 1} · done (1 photo left)"
                )
                if row < widget.count():
                    widget.item(row).setText(text)
                else:
                    widget.addItem(text)
        copies, similar = self._open_groups("copies"), self._open_groups("similar")
        self.list_titles["copies"].setText(
            f"<b>Copies</b>: {copies} group{'s' if copies != 1 else ''} (the same picture)"
        )
        self.list_titles["similar"].setText(
            f"<b>Similar shots</b>: {similar} group{'s' if similar != 1 else ''} (bursts, the "
            "same scene: not copies)"
        )
        for kind in KINDS:
            visible = bool(self.rows[kind]) or kind == "copies"
            self.list_titles[kind].setVisible(visible)
            self.lists[kind].setVisible(visible)
        if self.groups:
            text = (
                "Choose the photo to keep. Nothing is moved without your confirmation, and "
                "what is moved goes to the system trash."
            )
        else:
            text = "No near-duplicates found: no two photos are copies of each other."
        if self.stopped:
            text = "Stopped early: these groups are from the pairs checked so far. " + text
        self.summary.setText(text)

    def _row_chosen(self, kind: str, row: int) -> None:
        if row < 0:
            return
        other = self.lists["similar" if kind == "copies" else "copies"]
        other.blockSignals(True)
        other.setCurrentRow(-1)
        other.blockSignals(False)
        self._show_index(self.rows[kind][row])

    def _show_group(self, row: int) -> None:
        """Show the ``row``-th group of copies."""
        rows = self.rows["copies"]
        self._show_index(rows[row] if 0 <= row < len(rows) else -1)

    def _show_index(self, index: int) -> None:
        self.photos.clear()
        self.current = index
        group = self.groups[index] if 0 <= index < len(self.groups) else []
        for h in group:
            extra = member_links(h)
            item = QListWidgetItem(
                f"{os.path.basename(h.path)}\n{member_evidence(h)}\n{member_place(h)}"
                + (f"\n{extra}" if extra else "")
            )
            item.setData(PathRole, h.path)
            links = getattr(h, "links", [])
            item.setToolTip(h.path + "".join(f"\nalso at {p}" for p in links))
            self._set_icon(item)
            self.photos.addItem(item)
        warn = ""
        if len(group) > LARGE_GROUP:
            warn = f"{len(group)} photos in one group: check each one before trashing anything."
        elif group and group.kind == "similar":
            warn = "Similar shots, not copies: compare them before choosing one to keep."
        self.warning.setText(warn)
        self.warning.setVisible(bool(warn))
        self._update_buttons()

    def _set_icon(self, item: QListWidgetItem) -> None:
        pm = self.thumbnails.get(item.data(PathRole)) if self.thumbnails is not None else None
        if isinstance(pm, QPixmap) and not pm.isNull():
            item.setIcon(QIcon(pm))

    def _thumbnail_ready(self, path: str) -> None:
        for i in range(self.photos.count()):
            if self.photos.item(i).data(PathRole) == path:
                self._set_icon(self.photos.item(i))

    def _update_buttons(self) -> None:
        chosen = bool(self.photos.selectedItems())
        self.keep_button.setEnabled(chosen and self.photos.count() > 1)
        self.compare_button.setEnabled(chosen and self.photos.count() > 1)

    # ---------------------------------------------------------------- acting

    def select_photo(self, path: str) -> bool:
        for i in range(self.photos.count()):
            if self.photos.item(i).data(PathRole) == path:
                self.photos.setCurrentRow(i)
                return True
        return False

    def _selected(self) -> tuple[str, list[str]] | None:
        items = self.photos.selectedItems()
        if not items:
            return None
        keep = items[0].data(PathRole)
        others = [self.photos.item(i).data(PathRole) for i in range(self.photos.count())]
        return keep, [p for p in others if p != keep]

    def _ask(self, keep: str, others: list[str]) -> bool:
        stay = self.plan.stay if self.plan is not None else []
        self.last_confirmation = TrashConfirmation(keep, others, self, stay)
        return self.last_confirmation.exec() == QDialog.DialogCode.Accepted

    def keep_selected(self) -> list[str]:
        """Keep the chosen photo; after the confirmation, move to the trash what the engine's
        plan lets go (made now, from the disk). Returns the paths moved."""
        sel = self._selected()
        if sel is None:
            return []
        row = self.current
        self.plan = self.groups[row].trash_plan(sel[0])
        keep, go = self.plan.keep, self.plan.go
        if not go:
            self.warning.setText(
                "Nothing can go to the trash: "
                + "; ".join(f"{os.path.basename(p)} stays ({why})" for p, why in self.plan.stay)
            )
            self.warning.setVisible(True)
            return []
        if not self.confirm(keep, go):
            return []
        done = [p for p in go if move_to_trash(p)]
        group = self.groups[row]
        self.groups[row] = DuplicateGroup(
            [h for h in group if os.path.lexists(h.path)], group.pairs, group.roots, group.kind
        )
        # the same files may stand in other groups (a photo copied and also in a burst)
        gone = set(done)
        for i, g in enumerate(self.groups):
            if i != row and gone & {h.path for h in g}:
                self.groups[i] = DuplicateGroup(
                    [h for h in g if h.path not in gone], g.pairs, g.roots, g.kind
                )
        self._refresh_counts()
        self._show_index(row)
        self.select_photo(keep)
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
