"""Near-duplicate groups as thumbnails, each photo with its evidence; trashing asks first.

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
from PySide6.QtGui import QGuiApplication, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
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
from engine.library import DuplicateGroup

#: a group this large is more likely a false grouping than a burst of copies: say so
LARGE_GROUP = 8
#: the confirmation never grows past this share of the screen
SCREEN_SHARE = 0.7
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


def _bounded(widget: QWidget, width: int, height: int) -> None:
    """Resize ``widget`` to at most ``SCREEN_SHARE`` of the screen it is on."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is not None:
        avail = screen.availableGeometry()
        width = min(width, int(avail.width() * SCREEN_SHARE))
        height = min(height, int(avail.height() * SCREEN_SHARE))
        widget.setMaximumSize(int(avail.width() * 0.9), int(avail.height() * 0.9))
    widget.resize(width, height)


class TrashConfirmation(QDialog):
    """ "Move these N photos to the trash?" with every one of them listed (scrolling), the photo
    kept named above, and the buttons below the list, always on screen."""

    def __init__(
        self,
        keep: str,
        others: list[str],
        parent: QWidget | None = None,
        stay: list[tuple[str, str]] = (),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Move to trash?")
        n = len(others)
        text = QLabel(
            f"Keep <b>{os.path.basename(keep)}</b> ({keep}) and move {n} other file"
            f"{'s' if n != 1 else ''} to the system trash?<br>You can restore them from the "
            "trash; nothing is deleted outright."
        )
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.keep_label = text
        self.list = QListWidget()
        self.list.setAccessibleName("Files to move to the trash")
        self.list.addItems(others)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        #: the files that stay besides the one kept, each with why
        self.stay_list = QListWidget()
        self.stay_list.setAccessibleName("Files that stay")
        self.stay_list.addItems([f"{p} — stays: {why}" for p, why in stay])
        self.stay_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.stay_list.setVisible(bool(stay))
        self.buttons = QDialogButtonBox()
        self.yes = self.buttons.addButton(
            f"Move {n} to trash", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.no = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.yes.setAutoDefault(False)
        self.no.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addWidget(self.list, 3)
        lay.addWidget(self.stay_list, 1)
        lay.addWidget(self.buttons)
        _bounded(self, 640, 120 + 22 * min(n + len(stay), 30))
        self.no.setFocus()


class DuplicatesDialog(QDialog):
    """Groups of near-duplicates: a group list, and the chosen group's photos as thumbnails
    with their evidence. "Keep the selected photo" offers to trash the others of its group."""

    trashed = Signal(list)

    def __init__(
        self, groups: list[list], parent=None, confirm=None, evidence_of=None, thumbnails=None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Near-duplicates")
        # a group made by hand (plain hits) protects the kept file and its links only
        self.groups = [
            DuplicateGroup(list(g), getattr(g, "pairs", []), getattr(g, "roots", None))
            for g in groups
        ]
        #: ``confirm(keep, others) -> bool``; by default the bounded ``TrashConfirmation``
        self.confirm = confirm or self._ask
        self.last_confirmation: TrashConfirmation | None = None
        #: what the last *Keep* would move and leave (``TrashPlan``)
        self.plan = None
        #: ``evidence_of(path, file_id)`` → the pair's check, for *Compare*'s matching points
        self.evidence_of = evidence_of
        self.thumbnails = thumbnails
        self.file_ids = {h.path: h.file_id for g in groups for h in g}
        self.group_list = QListWidget()
        self.group_list.setAccessibleName("Duplicate groups")
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
        buttons = QHBoxLayout()
        buttons.addWidget(self.keep_button)
        buttons.addWidget(self.compare_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        split = QSplitter()
        split.addWidget(self.group_list)
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.warning)
        column.addWidget(self.photos, 1)
        split.addWidget(right)
        split.setStretchFactor(1, 4)
        split.setSizes([180, 720])
        lay = QVBoxLayout(self)
        lay.addWidget(
            QLabel(
                "Choose the photo to keep. Nothing is moved without your confirmation, and "
                "what is moved goes to the system trash."
                if groups
                else "No near-duplicates found: no two photos are copies of each other."
            )
        )
        lay.addWidget(split, 1)
        lay.addLayout(buttons)
        for i, g in enumerate(self.groups):
            self.group_list.addItem(f"Group {i + 1} · {len(g)} photos")
        self.group_list.currentRowChanged.connect(self._show_group)
        self.photos.itemSelectionChanged.connect(self._update_buttons)
        if thumbnails is not None:
            thumbnails.ready.connect(self._thumbnail_ready)
        _bounded(self, 960, 600)
        if groups:
            self.group_list.setCurrentRow(0)  # shows the photos; chooses none of them
        self._update_buttons()
        close.setFocus()

    # ---------------------------------------------------------------- showing

    def _show_group(self, row: int) -> None:
        self.photos.clear()
        group = self.groups[row] if 0 <= row < len(self.groups) else []
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
        self.warning.setText(
            f"{len(group)} photos in one group: check each one before trashing anything."
            if len(group) > LARGE_GROUP
            else ""
        )
        self.warning.setVisible(len(group) > LARGE_GROUP)
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
        row = self.group_list.currentRow()
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
            [h for h in group if os.path.lexists(h.path)], group.pairs, group.roots
        )
        self._show_group(row)
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
