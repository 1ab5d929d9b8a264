"""What the user can do with one result, or with the whole list: open it, show its folder, copy
its path, compare it with the query, find similar; export the ranked list. The search panel owns
one (``SearchPanel.actions``), tells it which search it acts on, and shows what it reports."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from app.models import GONE_FIX, GONE_WHY, ResultsModel, evidence_text
from app.state import AppState
from engine.library import export_results

if TYPE_CHECKING:
    from engine.library import SearchResult


def open_with_system(path: str) -> bool:
    """Open a file or folder with the desktop's application for it; False when none opened."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(path)))


def export_name(query: str | None) -> str:
    """The export's suggested file name: the query's, so two exports do not collide."""
    stem = os.path.splitext(os.path.basename(query or ""))[0]
    return f"{stem}-results.csv" if stem else "results.csv"


class Searched(NamedTuple):
    """The search the actions act on: its query photo, its box, and its result once it came
    (None while it runs or after it failed)."""

    query: str | None
    box: tuple[float, float, float, float] | None
    result: SearchResult | None


class ResultActions(QObject):
    """A result's right-click menu, the compare dialog and the export, over the ``results``
    shown for the search that ``searched()`` returns; menus and dialogs open over ``host``."""

    find_similar = Signal(str)  # search with this result's photo
    status = Signal(str)  # what was done, for the status line
    error = Signal(str, str)  # message, details

    def __init__(
        self,
        state: AppState,
        results: ResultsModel,
        searched: Callable[[], Searched],
        host: QWidget,
    ) -> None:
        super().__init__(host)
        self.state = state
        self.results = results
        self.searched = searched
        self.host = host

    def menu(self, path: str) -> QMenu:
        """The right-click menu of a result (also used by tests to trigger the actions)."""
        menu = QMenu(self.host)
        menu.addAction("Find similar", lambda: self.find_similar.emit(path))
        menu.addAction("Open", lambda: self.open_file(path))
        menu.addAction("Show in folder", lambda: self.open_file(os.path.dirname(path)))
        menu.addAction("Copy path", lambda: QGuiApplication.clipboard().setText(path))
        menu.addAction("Compare with the query", lambda: self.compare(path))
        return menu

    def open_file(self, path: str) -> bool:
        """Open a photo or folder with the system's application, or say why it did not."""
        if not os.path.exists(path):  # not a missing application: the file is gone
            self.error.emit(
                f"{os.path.basename(path) or path} is no longer there ({GONE_WHY}); {GONE_FIX}.",
                path,
            )
            return False
        if open_with_system(path):
            return True
        QGuiApplication.clipboard().setText(path)
        self.error.emit(
            f"No application on this system opened {os.path.basename(path) or path}; "
            "its path is copied to the clipboard.",
            path,
        )
        return False

    def compare(self, path: str):
        """The query and this result side by side, with the search's evidence for the pair."""
        from app.dialogs import CompareDialog

        query, box, _ = self.searched()
        if not query:
            return None
        hit = self.results.hit(path)
        caption, evidence = "", None
        if hit is not None:
            caption = f"score {hit.score:.3f} · {evidence_text(hit) or 'not verified'}"
            evidence = partial(  # runs on the dialog's worker
                self.state.library.evidence,
                query,
                hit.file_id,
                box=box,
                model=self.state.model_spec,
            )
        outline = self.results.outlines.get(path)  # (polygon, photo size) or None
        note = self.results.notes.get(path) or self.results.not_found.get(path)
        if note:
            caption = f"{caption} · clicked object: {note}" if caption else note
        dlg = CompareDialog(
            query, path, caption, self.host, evidence, outline[0] if outline else None
        )
        dlg.open()
        return dlg

    def choose_export(self) -> None:
        query, _, result = self.searched()
        if result is None:
            return
        settings = self.state.settings
        start = os.path.join(settings.start_folder(), export_name(query))
        path, _ = QFileDialog.getSaveFileName(
            self.host, "Export results", start, "CSV (*.csv);;JSON (*.json)"
        )
        if path:
            settings.remember_folder(path)
            self.export(path)

    def export(self, path: str) -> None:
        """Write the search's ranked list (CSV or JSON, by suffix)."""
        result = self.searched().result
        if result is None:
            return
        try:
            export_results(result, path)
        except OSError as e:
            self.error.emit(f"{path}: cannot write ({e.strerror or e})", "")
            return
        self.status.emit(f"exported {len(result.hits)} results to {os.path.basename(path)}")
