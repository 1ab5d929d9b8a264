"""Keeping the library current, for the library panel: look for what changed on disk
(``Library.changes``, on a worker), have the panel index it in the background, and say so in a
notice ("Noticed 2 new, 1 deleted photos in your folders: updating the library", then "Up to
date at 15:26: …"). When to look is ``app.watch.FolderWatcher``'s to say."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy

from app.workers import TaskSlot, Worker


class KeepCurrent(QLabel):
    """The notice of the library's background updates, and the checks behind it.

    ``panel`` is the library panel: its folders (``folder_paths``), its indexing
    (``index_task``, ``index_folders``) and the user's settings (``state.settings``)."""

    update_started = Signal(object)  # the Changes now being indexed in the background

    def __init__(self, panel) -> None:
        super().__init__("")
        self.panel = panel
        self.check_task = TaskSlot(self)
        self.check_after = False  # a check was asked for while indexing ran
        self.updating = None  # the Changes being indexed by a background update
        self.setAccessibleName("Library updates")
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.hide()

    def check(self) -> bool:
        """Look, on a worker, for photos added, changed, moved or deleted in the indexed
        folders; what is found is indexed in the background. Off with the "Keep the library up
        to date" setting; asked while indexing runs, it looks when indexing ends."""
        settings = self.panel.state.settings
        if not settings.keep_up_to_date or not self.panel.folder_paths():
            return False
        if self.panel.index_task.busy():
            self.check_after = True
            return False
        if self.check_task.busy():
            return False
        w = Worker(self.panel.state.library.changes, exclude=settings.exclude)
        w.signals.result.connect(self._on_changes)
        w.signals.error.connect(lambda m, _d: self.say(f"Could not look for changes: {m}"))
        self.check_task.start(w)
        return True

    def _on_changes(self, changes) -> None:
        if not changes or not self.panel.state.settings.keep_up_to_date:
            return  # nothing changed (or stopped): the last notice stays
        if self.panel.index_task.busy():  # indexing started meanwhile: look again after it
            self.check_after = True
            return
        self.updating = changes
        self.say(f"Noticed {changes.text()} in your folders: updating the library")
        self.panel.index_folders(self.panel.folder_paths())
        self.update_started.emit(changes)

    def indexing_ended(self, summary) -> None:
        """Indexing is over (``summary``; None after an error): a background update says what
        it did, and a check asked for meanwhile runs now."""
        changes, self.updating = self.updating, None
        when = time.strftime("%H:%M")
        if changes is None:  # another run (Re-scan…): a cancelled update's notice is stale
            if summary is not None and not summary.cancelled and self.updated_partly():
                self.say("")
        elif summary is None:
            self.say(f"Could not update the library at {when}: {changes.text()} noticed")
        elif summary.cancelled:
            self.say(f"Update cancelled at {when} ({changes.text()} noticed): Re-scan finishes it")
        else:
            self.say(f"Up to date at {when}: {changes.text()} noticed and indexed")
        if self.check_after:
            self.check_after = False
            QTimer.singleShot(0, self.check)

    def updated_partly(self) -> bool:
        """Whether the notice says the last update did not finish."""
        return self.text().startswith(("Update cancelled", "Could not update"))

    def say(self, text: str) -> None:
        self.setText(text)
        self.setToolTip(text)
        self.setVisible(bool(text))

    def shutdown(self) -> None:
        self.check_task.wait()
