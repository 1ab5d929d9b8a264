"""Thin Qt models over plain engine data (search hits, library folders)."""

from __future__ import annotations

import os

from PySide6.QtCore import QAbstractListModel, QAbstractTableModel, QModelIndex, Qt

from app.thumbnails import ThumbnailCache
from engine.library import OTHERS_SHOWN

PathRole = Qt.ItemDataRole.UserRole + 1
ScoreRole = Qt.ItemDataRole.UserRole + 2
RankRole = Qt.ItemDataRole.UserRole + 3
OutlineRole = Qt.ItemDataRole.UserRole + 4  # ([[x, y], ...], (W, H)): a polygon in photo pixels
HeatRole = Qt.ItemDataRole.UserRole + 5  # QImage RGBA heatmap over the photo
HeaderRole = Qt.ItemDataRole.UserRole + 6  # a header row's text; None on a photo
EvidenceRole = Qt.ItemDataRole.UserRole + 7  # "✓ verified · 93 matching points", or None
NotFoundRole = Qt.ItemDataRole.UserRole + 8  # why the clicked object is not outlined here
OutlineNoteRole = Qt.ItemDataRole.UserRole + 9  # "outline 0.82": a clicked object's outline

#: the header above the unverified results (``OTHERS_SHOWN`` of them at most)
OTHERS_HEADER = "Other similar photos"
#: what a header row answers (its text); other roles get None
HEADER_ROLES = (Qt.ItemDataRole.DisplayRole, HeaderRole, Qt.ItemDataRole.AccessibleTextRole)


def evidence_text(hit) -> str | None:
    """What a person reads about a hit's geometric check; None when it was not verified."""
    if not getattr(hit, "verified", False):
        return None
    n = getattr(hit, "inliers", None)
    return f"✓ verified · {n} matching points" if n else "✓ verified"


def no_match_text(similar: int, folder: str | None = None, itself: bool = False) -> str:
    """The results' empty state when nothing was verified; ``folder``: the name of the folder
    the results are narrowed to, if any; ``itself``: the query is a photo of the library, left
    out of its own results."""
    other = "other " if itself else ""
    if folder:
        return (
            f"No match in {folder}: none of its {other}photos shows this ({similar} similar "
            "photos below). Choose All folders to look in the whole library."
        )
    return f"No match: none of your {other}photos shows this ({similar} similar photos below)"


#: why a result's file may not be there now, and what brings the library up to date
GONE_WHY = "moved, deleted, or on a drive that is not connected"
GONE_FIX = "Re-scan brings the library up to date"
#: a result whose file is not there now
NOT_ON_DISK_TEXT = f"not on disk: {GONE_WHY} ({GONE_FIX})"
#: what a search says when the library has nothing to search yet
NO_PHOTOS_TEXT = "Your library has no photos yet: add a folder first"


def indexing_done_text(summary, rows: list[dict]) -> str:
    """What an indexing run did (an ``IndexSummary``), and the failures the folder table shows
    (``rows``: those of earlier runs too, so the line and the table never disagree)."""
    verb = "cancelled" if summary.cancelled else "done"
    parts = [f"{summary.indexed} indexed", f"{summary.skipped_unchanged} unchanged"]
    if summary.moved:
        parts.append(f"{summary.moved} moved")
    if summary.removed:
        parts.append(f"{summary.removed} removed")
    failed = max(sum(r.get("failed", 0) for r in rows if not r.get("listing")), summary.failed)
    parts.append(f"{failed} failed" + (" (see Failed files…)" if failed else ""))
    gone = len(getattr(summary, "refused", ()))  # folders that were not there: left out
    if gone:
        parts.append(f"{gone} folder{'s' if gone > 1 else ''} not found, left out")
    return f"{verb}: " + ", ".join(parts)


class ResultsModel(QAbstractListModel):
    """Ranked search hits (``engine.library.Hit``); thumbnails come from a cache.

    Rows are hits, or a header (a ``str``) between the verified matches and the others.
    """

    def __init__(self, thumbnails: ThumbnailCache | None = None, parent=None) -> None:
        super().__init__(parent)
        self.rows: list = []  # Hit or header text
        self.hits: list = []  # the rows that are hits, in order
        self._row_of: dict[str, int] = {}
        self._rank_of: dict[str, int] = {}
        self.outlines: dict[str, tuple] = {}
        self.not_found: dict[str, str] = {}
        self.notes: dict[str, str] = {}
        #: the search's own outlines (the geometry's quads of the verified matches)
        self.search_outlines: dict[str, tuple] = {}
        self.heats: dict[str, object] = {}
        self.pipeline = "fused"  # a global-only search's scores are similarities to show
        self.thumbnails = thumbnails
        if thumbnails is not None:
            thumbnails.ready.connect(self._thumbnail_ready)
        self._roles = self._hit_roles()

    def set_result(self, res, others: int = OTHERS_SHOWN) -> None:
        """A search's hits: the verified matches (outlined by the geometry), then a header and
        at most ``others`` of the rest (``SearchResult.shown``). A global-only search lists its
        hits as they come."""
        self.pipeline = res.pipeline
        verified, rest = res.shown(others)
        header = [OTHERS_HEADER] if verified and rest else []
        quads = {h.path: (h.quad, (h.width, h.height)) for h in verified if h.quad and h.width}
        self.set_rows(verified + header + rest, quads)

    def set_rows(self, rows: list, outlines: dict[str, tuple] | None = None) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.hits = [r for r in self.rows if not isinstance(r, str)]
        self._row_of = {r.path: i for i, r in enumerate(self.rows) if not isinstance(r, str)}
        self._rank_of = {h.path: i + 1 for i, h in enumerate(self.hits)}
        self.outlines = dict(outlines or {})
        self.search_outlines = dict(self.outlines)
        self.not_found = {}
        self.notes = {}
        self.heats = {}
        self.endResetModel()

    def set_outline(self, path: str, outline) -> None:
        """Targeted update: one result's outline (polygon, photo size), or None to clear."""
        self.outlines[path] = outline
        self._changed(path, OutlineRole)

    def set_not_found(self, path: str, reason: str) -> None:
        self.not_found[path] = reason
        self.outlines.pop(path, None)  # the search's own outline is not the clicked object
        self.notes.pop(path, None)
        self._changed(path, NotFoundRole)

    def set_outline_note(self, path: str, note: str | None) -> None:
        """What a clicked object's outline says about itself ("outline 0.82")."""
        self.notes[path] = note
        self._changed(path, OutlineNoteRole)

    def set_heat(self, path: str, image) -> None:
        self.heats[path] = image
        self._changed(path, HeatRole)

    def clear_outlines(self) -> None:
        """No outline and no "not found" mark on any result."""
        self.outlines, self.not_found, self.notes = {}, {}, {}
        if self.rows:
            roles = [OutlineRole, NotFoundRole, OutlineNoteRole]
            self.dataChanged.emit(self.index(0), self.index(len(self.rows) - 1), roles)

    def restore_search_outlines(self) -> None:
        """The search's own outlines again, no clicked object's outline or mark."""
        self.clear_outlines()
        for path, outline in self.search_outlines.items():
            self.set_outline(path, outline)

    def _changed(self, path: str, role: int) -> None:
        row = self._row_of.get(path)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [role])

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if index.isValid() and isinstance(self.rows[index.row()], str):
            return Qt.ItemFlag.ItemIsEnabled  # a header: nothing to select or open
        return super().flags(index)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        h = self.rows[index.row()]
        if isinstance(h, str):
            return h if role in HEADER_ROLES else None
        show = self._roles.get(role)
        return None if show is None else show(h)

    def _hit_roles(self) -> dict:
        """What a hit's row answers, per role: role → ``f(hit)``."""
        return {
            Qt.ItemDataRole.DisplayRole: self._display,
            Qt.ItemDataRole.ToolTipRole: self._tooltip,
            Qt.ItemDataRole.AccessibleTextRole: self._accessible,
            Qt.ItemDataRole.DecorationRole: self._thumbnail,
            PathRole: lambda h: h.path,
            ScoreRole: lambda h: h.score,
            RankRole: lambda h: self._rank_of[h.path],
            EvidenceRole: evidence_text,
            OutlineRole: lambda h: self.outlines.get(h.path),
            NotFoundRole: lambda h: self.not_found.get(h.path),
            OutlineNoteRole: lambda h: self.notes.get(h.path),
            HeatRole: lambda h: self.heats.get(h.path),
        }

    def _display(self, h) -> str:
        # an unverified hit's fused score is a tiny number that says nothing to a person
        plain = not getattr(h, "verified", False) and self.pipeline != "global"
        shown = "similar" if plain else f"{h.score:.3f}"
        gone = "" if getattr(h, "on_disk", True) else " · not on disk"
        return f"{self._rank_of[h.path]}. {shown}{gone}\n{os.path.basename(h.path)}"

    def _tooltip(self, h) -> str:
        lines = [h.path, evidence_text(h) or "similar, not verified", f"score {h.score:.4f}"]
        if not getattr(h, "on_disk", True):
            lines.append(NOT_ON_DISK_TEXT)
        if h.path in self.not_found:
            lines.append(f"clicked object: {self.not_found[h.path]}")
        elif self.notes.get(h.path):
            lines.append(f"clicked object: {self.notes[h.path]}")
        return "\n".join(lines)

    def _accessible(self, h) -> str:
        what = evidence_text(h) or "similar, not verified"
        if getattr(h, "verified", False) or self.pipeline == "global":
            what += f", score {h.score:.2f}"
        text = f"result {self._rank_of[h.path]}, {what}, {os.path.basename(h.path)}"
        if not getattr(h, "on_disk", True):
            text += ", not on disk"
        if h.path in self.not_found:
            text += f", clicked object not found: {self.not_found[h.path]}"
        elif self.notes.get(h.path):
            text += f", clicked object {self.notes[h.path]}"
        return text

    def _thumbnail(self, h):
        return None if self.thumbnails is None else self.thumbnails.get(h.path)

    def _thumbnail_ready(self, path: str) -> None:
        row = self._row_of.get(path)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])

    def paths(self) -> list[str]:
        return [h.path for h in self.hits]

    def drop_under(self, folder: str) -> int:
        """Take out the results at or below ``folder`` (a folder that left the library), with
        what was drawn for them; a header left with nothing after it goes too. Returns how
        many went."""
        gone = {h.path for h in self.hits if is_under(h.path, folder)}
        if not gone:
            return 0
        rows = [r for r in self.rows if isinstance(r, str) or r.path not in gone]
        while rows and isinstance(rows[-1], str):
            rows.pop()
        kept = {
            name: {p: v for p, v in getattr(self, name).items() if p not in gone}
            for name in ("outlines", "search_outlines", "not_found", "notes", "heats")
        }
        self.set_rows(rows, kept["outlines"])
        for name, values in kept.items():
            setattr(self, name, values)
        return len(gone)

    def hit(self, path: str):
        row = self._row_of.get(path)
        return None if row is None else self.rows[row]


def is_under(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both absolute)."""
    path, folder = os.path.normpath(path), os.path.normpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def folder_name(path: str, sample_folder: str | None = None) -> str:
    """A folder's short name: "Sample photos" for the bundled ones, else its last part."""
    if sample_folder and os.path.normpath(path) == os.path.normpath(sample_folder):
        return "Sample photos"
    return os.path.basename(os.path.normpath(path)) or path


def folder_label(path: str, sample_folder: str | None = None) -> str:
    """A folder as the list shows it: its name, then where it is (the home folder as ~); the
    full path is its tooltip."""
    if sample_folder and os.path.normpath(path) == os.path.normpath(sample_folder):
        return "Sample photos"
    parent, name = os.path.split(os.path.normpath(path))
    home = os.path.expanduser("~")
    if home not in ("", "/") and (parent == home or parent.startswith(home + os.sep)):
        parent = "~" + parent[len(home) :]
    return f"{name or path} — {parent}" if name else path


class FoldersModel(QAbstractTableModel):
    """Library folders with their counts (rows of ``Library.status()["folders"]``)."""

    COLUMNS = ("Folder", "Indexed", "Pending", "Failed")
    KEYS = ("path", "indexed", "pending", "failed")

    def __init__(self, parent=None, sample_folder: str | None = None) -> None:
        super().__init__(parent)
        self.rows: list[dict] = []
        self.sample_folder = sample_folder

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
            if key != "path" and row.get("listing"):
                return "…"  # being added: the engine has not counted its photos yet
            value = folder_label(row[key], self.sample_folder) if key == "path" else row[key]
            if key == "path" and not row.get("exists", True):
                return f"{value} (missing)"
            return value
        if role == Qt.ItemDataRole.ToolTipRole and key == "path":
            return row["path"]
        if role == PathRole:
            return row["path"]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.COLUMNS[section]
        return None
