"""What the user can do with one result, or with the whole list: open it, show its folder, copy
its path, compare it with the query, find similar; export the ranked list. Mixed into the
search panel, whose query, results and signals it uses."""

from __future__ import annotations

import os
from functools import partial

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMenu

from app.models import evidence_text
from engine.library import export_results


def open_with_system(path: str) -> bool:
    """Open a file or folder with the desktop's application for it; False when none opened."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(path)))


def export_name(query: str | None) -> str:
    """The export's suggested file name: the query's, so two exports do not collide."""
    stem = os.path.splitext(os.path.basename(query or ""))[0]
    return f"{stem}-results.csv" if stem else "results.csv"


class ResultActions:
    def result_actions(self, path: str) -> QMenu:
        """The right-click menu of a result (also used by tests to trigger the actions)."""
        menu = QMenu(self)
        menu.addAction("Find similar", lambda: self.search(path))
        menu.addAction("Open", lambda: self.open_file(path))
        menu.addAction("Show in folder", lambda: self.open_file(os.path.dirname(path)))
        menu.addAction("Copy path", lambda: QGuiApplication.clipboard().setText(path))
        menu.addAction("Compare with the query", lambda: self.compare(path))
        return menu

    def open_file(self, path: str) -> bool:
        """Open a photo or folder with the system's application, or say why it did not."""
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
        from app.dialogs import CompareDialog

        if not self.last_query:
            return None
        hit = self.results.hit(path)
        caption, evidence = "", None
        if hit is not None:
            caption = f"score {hit.score:.3f} · {evidence_text(hit) or 'not verified'}"
            evidence = partial(  # runs on the dialog's worker
                self.state.library.evidence,
                self.last_query,
                hit.file_id,
                box=self.last_box,
                model=self.state.model_spec,
            )
        dlg = CompareDialog(self.last_query, path, caption, self, evidence)
        dlg.open()
        return dlg

    def choose_export(self) -> None:
        if self.last_result is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export results", export_name(self.last_query), "CSV (*.csv);;JSON (*.json)"
        )
        if path:
            self.export(path)

    def export(self, path: str) -> None:
        try:
            export_results(self.last_result, path)
        except OSError as e:
            self.error.emit(f"{path}: cannot write ({e.strerror or e})", "")
            return
        n = len(self.last_result.hits)
        self.search_label.setText(f"exported {n} results to {os.path.basename(path)}")
