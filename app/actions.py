"""The window's actions: one ``QAction`` each, in the menu bar, the toolbar and as shortcuts.

Each action is enabled only when it can act (Back with an earlier query, Export with results,
Remove with a chosen folder, Re-scan with folders, Failed files with failures, Heatmap with
results to explain).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox, QToolBar

HELP_TEXT = (
    "<p><b>Search</b>: open (Ctrl+O), paste (Ctrl+V) or drop a photo. Photos of the same "
    "object or place come first, marked <i>verified</i> with the number of matching points "
    "the geometric check found; <i>other similar photos</i> follow, unverified.</p>"
    "<p><b>Part of a photo</b>: drag a box on the query to search only that region; "
    "<i>Search the whole photo</i> clears it. Alt+Left returns to the previous query.</p>"
    "<p><b>Explain</b>: <i>Heatmap</i> (Ctrl+H) shows where the network looked or where the "
    "photos matched; click an object on the query to outline it in the results.</p>"
    "<p><b>Library</b>: add folders (Ctrl+Shift+O) or drop them on the window; they are "
    "indexed on this computer and nothing leaves it.</p>"
)


def _action(
    window: QMainWindow, text: str, slot: Callable, shortcut=None, tip: str = ""
) -> QAction:
    act = QAction(text, window)
    if shortcut is not None:
        act.setShortcut(QKeySequence(shortcut))
    if tip:
        act.setToolTip(tip)
        act.setStatusTip(tip)
    act.triggered.connect(lambda *_: slot())
    return act


def build_actions(w) -> dict[str, QAction]:
    """The main window's actions, their menus and its toolbar; returns them by name."""
    search, lib, explain = w.search_panel, w.library_panel, w.explain
    key = QKeySequence.StandardKey
    acts = {
        "open": _action(w, "&Open photo…", search.choose_query, key.Open, "Search with a photo"),
        "paste": _action(
            w, "&Paste photo", search.paste_query, key.Paste, "Search with the clipboard's photo"
        ),
        "back": _action(
            w,
            "&Back",
            search.back,
            QKeySequence(Qt.Modifier.ALT | Qt.Key.Key_Left),
            "Return to the previous query",
        ),
        "export": _action(
            w,
            "&Export results…",
            search.result_actions.choose_export,
            "Ctrl+E",
            "Save the ranked list as CSV or JSON",
        ),
        "quit": _action(w, "&Quit", w.close, key.Quit),
        "add_folder": _action(
            w, "&Add folder…", lib.choose_folder, "Ctrl+Shift+O", "Index a photo folder"
        ),
        "rescan": _action(
            w, "&Re-scan folders", lib.rescan, key.Refresh, "Index what changed in every folder"
        ),
        "remove_folder": _action(
            w,
            "Re&move folder…",
            lib.remove_selected_folder,
            None,
            "Forget the chosen folder (its files stay on disk)",
        ),
        "failed": _action(
            w, "&Failed files…", lib.show_errors, None, "Photos that could not be indexed"
        ),
        "duplicates": _action(
            w,
            "&Duplicates…",
            w.show_duplicates,
            "Ctrl+D",
            "Find groups of near-duplicate photos",
        ),
        "train": _action(
            w, "&Train a model…", w.open_wizard, None, "Train a retrieval model on your photos"
        ),
        "improve": _action(
            w,
            "&Improve the model from my photos…",
            lambda: w.open_wizard(source="library"),
            None,
            "Learn from the photos your library verifies as the same thing: no labels needed",
        ),
        "settings": _action(
            w, "&Settings…", w.open_settings, key.Preferences, "Model, device, index, thumbnails"
        ),
        "heatmap": _action(
            w, "&Heatmap", lambda: None, "Ctrl+H", "Show where the model looked or matched"
        ),
        "cancel": _action(w, "&Cancel", w.cancel_all, Qt.Key.Key_Escape, "Stop what runs"),
        "focus": _action(w, "Go to results", search.results_view.setFocus, key.Find),
        "help": _action(w, "&How to search", lambda: show_help(w), key.HelpContents),
        "about": _action(w, "&About visual-search", lambda: show_about(w)),
    }
    if acts["settings"].shortcut().isEmpty():  # not every platform names one
        acts["settings"].setShortcut(QKeySequence("Ctrl+,"))
    heat = acts["heatmap"]
    heat.setCheckable(True)
    heat.triggered.disconnect()
    heat.toggled.connect(explain.heat_toggle.setChecked)
    explain.heat_toggle.toggled.connect(heat.setChecked)

    menus = w.menuBar()
    for title, names in (
        ("&File", ("open", "paste", "back", None, "export", None, "quit")),
        ("&Library", ("add_folder", "rescan", "remove_folder", "failed", None, "duplicates")),
        ("&View", ("heatmap", "focus", None, "cancel")),
        ("&Tools", ("improve", "train", None, "settings")),
        ("&Help", ("help", "about")),
    ):
        menu = menus.addMenu(title)
        for name in names:
            if name is None:
                menu.addSeparator()
            else:
                menu.addAction(acts[name])
    bar = QToolBar("Main")
    bar.setObjectName("main-toolbar")
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    bar.setMovable(False)
    for name in ("open", "paste", "back", None, "add_folder", "duplicates", "train", "settings"):
        if name is None:
            bar.addSeparator()
        else:
            bar.addAction(acts[name])
    w.addToolBar(bar)
    w.toolbar = bar

    for name in ("back", "export", "remove_folder", "rescan", "failed", "heatmap", "duplicates"):
        acts[name].setEnabled(False)
    search.history_changed.connect(acts["back"].setEnabled)
    search.result_available.connect(acts["export"].setEnabled)
    search.result_available.connect(heat.setEnabled)
    search.result_available.connect(explain.setEnabled)
    lib.folder_selected.connect(acts["remove_folder"].setEnabled)
    lib.folders_changed.connect(  # after the panel's own buttons follow the new rows
        lambda _rows: (
            acts["rescan"].setEnabled(lib.rescan_button.isEnabled()),
            acts["failed"].setEnabled(lib.errors_button.isEnabled()),
            acts["duplicates"].setEnabled(any(r.get("indexed") for r in _rows)),
        )
    )
    explain.setEnabled(False)
    return acts


def show_help(parent) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, "How to search", HELP_TEXT, parent=parent)
    box.setTextFormat(Qt.TextFormat.RichText)
    box.open()
    return box


def show_about(parent) -> QMessageBox:
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("visual-search")
    except PackageNotFoundError:
        v = "development copy"
    box = QMessageBox(
        QMessageBox.Icon.Information,
        "About visual-search",
        f"visual-search {v}\nFinds the same object or place across your photo folders, "
        "on this computer. Local features with geometric verification, and the retrieval "
        "networks of CiDeR and UGALR.",
        parent=parent,
    )
    box.open()
    return box
