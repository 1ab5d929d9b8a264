"""The main window: it creates the panels (``app.panels``) and connects their signals.

Library folders and indexing on the left; the query, its tools and the ranked results on the
right. All engine work runs on the panels' worker tasks (``app.workers``).
"""

from __future__ import annotations

import contextlib
import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.actions import build_actions
from app.panels import DownloadsPanel, DuplicatesView, ExplainControls, LibraryPanel, SearchPanel
from app.settings import Settings
from app.state import AppState
from app.thumbnails import ThumbnailCache
from app.watch import FolderWatcher
from app.workers import wait_all
from engine.library import Library, import_engine
from engine.paths import cache_dir

#: the library column's narrowest width: a folder's name and its counts side by side
LIBRARY_MIN_WIDTH = 196


class MainWindow(QMainWindow):
    error_shown = Signal(str)
    weights_downloaded = Signal(str)

    def __init__(
        self, library: Library, model: str | None = None, settings: Settings | None = None
    ) -> None:
        super().__init__()
        settings = settings or Settings()
        self.state = AppState(library, settings, model or AppState.model_from_settings(settings))
        # the engine's code for the runtime that runs the model, imported here on the GUI
        # thread (behind the "opening" window): a first import on a worker thread would stall
        # the event loop. A runtime that is not installed is reported when the model loads
        with contextlib.suppress(ImportError):
            import_engine(self.state.model_spec or library.current_model_spec())
        self.library = library
        self.setWindowTitle("visual-search")
        self.setAcceptDrops(True)
        self.thumbnails = ThumbnailCache(160, disk_dir=str(cache_dir() / "thumbnails"))
        self.library_panel = LibraryPanel(self.state)
        self.downloads = DownloadsPanel()
        self.search_panel = SearchPanel(self.state, self.thumbnails)
        self.explain = ExplainControls(self.state)
        self.search_panel.add_tool(self.explain)
        self.duplicates = DuplicatesView(self.state, self, self.thumbnails)
        self.watcher = FolderWatcher(self, enabled=settings.keep_up_to_date)
        self._lay_out()
        self._connect()
        self.actions = build_actions(self)
        self.library_panel.refresh_folders()

    def _lay_out(self) -> None:
        left = QWidget()
        column = QVBoxLayout(left)
        column.addWidget(self.library_panel, 1)
        column.addWidget(self.downloads)
        left.setMinimumWidth(LIBRARY_MIN_WIDTH)  # folder names stay readable at 800×600
        right = QWidget()
        QVBoxLayout(right).addWidget(self.search_panel)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        self.setCentralWidget(split)
        self.resize(1200, 800)
        # the smallest size its layout is made for (below it panels would draw over each
        # other), low enough for a 1366x768 screen at 150 % scaling
        self.setMinimumSize(800, 480)

    def _connect(self) -> None:
        lib, search, explain = self.library_panel, self.search_panel, self.explain
        for panel in (lib, self.downloads, search, explain, self.duplicates):
            panel.error.connect(self.show_error)
        search.folder_filter.sample_folder = lib.samples_folder()
        lib.folders_changed.connect(search.folder_filter.set_folders)
        lib.model_switched.connect(lambda _model: explain.reset_model())
        lib.folders_changed.connect(
            lambda rows: search.welcome.set_library_empty(
                not rows, samples=lib.samples_folder() is not None
            )
        )
        welcome = search.welcome
        welcome.open_requested.connect(search.choose_query)
        welcome.paste_requested.connect(search.paste_query)
        welcome.add_folder_requested.connect(lib.choose_folder)
        welcome.samples_requested.connect(lib.add_samples)
        self.downloads.downloaded.connect(self.weights_downloaded)
        self.duplicates.trashed.connect(lambda _paths: lib.rescan())
        lib.folder_removed.connect(self.drop_photos_under)
        lib.folders_changed.connect(lambda _rows: self.watcher.set_folders(lib.folder_paths()))
        self.watcher.check_due.connect(lib.check_for_changes)

        search.search_started.connect(explain.cancel)
        search.search_finished.connect(
            lambda res: explain.set_result(res, search.last_query, search.last_box)
        )
        search.query_view.point_clicked.connect(explain.outline_click)
        overlays = search.overlays
        explain.heat_opacity_changed.connect(overlays.set_heat_opacity)
        explain.query_heat_ready.connect(overlays.show_query_heat)
        explain.result_heats_ready.connect(overlays.show_result_heats)
        explain.outlines_cleared.connect(overlays.clear_outlines)
        explain.outlines_restored.connect(overlays.restore_outlines)
        explain.outlines_ready.connect(overlays.show_outlines)
        explain.not_found_ready.connect(overlays.show_not_found)
        explain.outline_notes_ready.connect(overlays.show_outline_notes)
        explain.status.connect(search.set_status)
        explain.idle.connect(search.restore_summary)

    # ---------------------------------------------------------------- actions

    def add_samples(self) -> bool:
        """Index the bundled sample photos, which the empty library's welcome offers."""
        return self.library_panel.add_samples()

    def show_duplicates(self, threshold: float | None = None) -> None:
        self.duplicates.scan(threshold)

    def drop_photos_under(self, folder: str) -> int:
        """A folder left the library: its photos leave the results on screen, and every compare
        view showing one of them closes. Returns how many results went."""
        from app.dialogs import CompareDialog
        from app.models import is_under

        n = self.search_panel.results.drop_under(folder)
        for w in QApplication.topLevelWidgets():
            if isinstance(w, CompareDialog) and any(is_under(p, folder) for p in w.paths):
                w.close()
        return n

    def download_weights(self, backbone: str = "resnet50", url: str | None = None) -> None:
        self.downloads.download_weights(backbone, url)

    def cancel_all(self) -> None:
        """Escape: stop indexing (what was done stays) and drop the running search."""
        if self.library_panel.index_task.busy():
            self.library_panel.cancel_indexing()
        self.search_panel.cancel()
        self.explain.cancel_outlining()

    def open_wizard(self, **kwargs):
        from app.wizard.window import TrainingWizard

        wiz = TrainingWizard(self.library, self.state.model_spec, self, **kwargs)
        wiz.use_model.connect(self.library_panel.switch_model)
        wiz.show()  # not open(): a modal wizard would block this window for its whole run
        self.wizard = wiz
        return wiz

    def open_settings(self):
        from app.settings_dialog import SettingsDialog

        dlg = SettingsDialog(self.state.settings, self)
        dlg.accepted.connect(lambda: self.apply_settings(dlg.values()))
        dlg.weights_requested.connect(self.download_weights)
        dlg.open()
        return dlg

    def apply_settings(self, settings: Settings) -> None:
        """Use and save new settings; a model change applies to the next search or indexing."""
        self.state.settings = settings
        self.state.model_spec = AppState.model_from_settings(settings)
        self.library.configure(device=settings.device, index_kind=settings.index_kind)
        self.explain.reset_model()
        self.thumbnails.size = settings.thumbnail_size
        self.watcher.set_enabled(settings.keep_up_to_date)
        settings.save()

    def show_error(self, message: str, details: str = "") -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "visual-search", message, parent=self)
        if details:
            box.setDetailedText(details)
        box.setAccessibleName("Error")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.NonModal)  # the window stays usable
        box.show()
        self.error_shown.emit(message)

    # ---------------------------------------------------------------- drag and drop

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        folders = [u for u in urls if os.path.isdir(u)]
        files = [u for u in urls if not os.path.isdir(u)]
        if folders:
            self.library_panel.index_folders(folders)
        if files:
            self.search_panel.search(files[0])
        event.acceptProposedAction()

    # ---------------------------------------------------------------- closing

    def shutdown(self) -> None:
        self.watcher.shutdown()
        for panel in (
            self.library_panel,
            self.downloads,
            self.search_panel,
            self.explain,
            self.duplicates,
        ):
            panel.shutdown()
        wait_all()  # dialogs' photo decoding too
        self.thumbnails.wait()

    def closeEvent(self, event) -> None:
        # gone from the screen at once: waiting for a task (the first search loads the
        # network for seconds) must not look like a Quit that did nothing
        self.hide()
        self.shutdown()
        super().closeEvent(event)
