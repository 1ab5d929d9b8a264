"""Keeping the library current: when to look for changes in the indexed folders.

``FolderWatcher`` says ``check_due`` when something may have changed on disk: a file-system
event in a watched folder (``QFileSystemWatcher`` on the indexed folders and their subfolders,
up to ``MAX_WATCHED``), a short while after the last event of a burst, and every
``CHECK_EVERY_MS`` in any case (events can be missed: network drives, folders beyond the cap,
a watcher the system refuses). What changed is decided by the engine (``Library.changes``), on
a worker; the library panel then indexes it in the background.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from app.workers import TaskSlot, Worker

#: the periodic check, whatever the watcher says
CHECK_EVERY_MS = 5 * 60 * 1000
#: quiet time after a file-system event before checking (a copy of 200 photos is one check)
SETTLE_MS = 1500
#: folders watched at most (the periodic check covers the rest)
MAX_WATCHED = 2000


def folders_below(roots: list[str], limit: int = MAX_WATCHED) -> list[str]:
    """``roots`` and the folders under them (no hidden ones), at most ``limit``."""
    out: list[str] = []
    stack = [r for r in reversed(roots) if os.path.isdir(r)]
    while stack and len(out) < limit:
        d = stack.pop()
        out.append(d)
        try:
            with os.scandir(d) as it:
                subs = sorted(
                    e.path
                    for e in it
                    if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
                )
        except OSError:
            continue
        stack.extend(reversed(subs))
    return out


class FolderWatcher(QObject):
    """Says ``check_due`` when the indexed folders may have changed (see the module)."""

    check_due = Signal()
    watching = Signal(int)  # the number of folders now watched

    def __init__(self, parent: QObject | None = None, enabled: bool = True) -> None:
        super().__init__(parent)
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._on_event)
        self.settle = QTimer(self)
        self.settle.setSingleShot(True)
        self.settle.setInterval(SETTLE_MS)
        self.settle.timeout.connect(self._settled)
        self.periodic = QTimer(self)
        self.periodic.setInterval(CHECK_EVERY_MS)
        self.periodic.timeout.connect(self.check_due)
        self.list_task = TaskSlot(self)  # listing subfolders runs off the GUI thread
        self.roots: list[str] = []
        self.enabled = False
        self.set_enabled(enabled)

    def set_enabled(self, on: bool) -> None:
        """Watch (and check periodically) or stop; turning it on checks at once."""
        if on == self.enabled:
            return
        self.enabled = on
        if on:
            self.periodic.start()
            self._watch(self.roots)
            self.check_due.emit()
        else:
            self.periodic.stop()
            self.settle.stop()
            self.list_task.cancel()
            self._unwatch()

    def set_folders(self, roots: list[str]) -> None:
        """The indexed folders to watch (with their subfolders)."""
        roots = sorted(set(roots))
        if roots == self.roots and self.watcher.directories():
            return
        self.roots = roots
        if self.enabled:
            self._watch(roots)

    def _watch(self, roots: list[str]) -> None:
        w = Worker(folders_below, list(roots))
        w.signals.result.connect(self._set_watched)
        self.list_task.start(w)

    def _set_watched(self, folders: list[str]) -> None:
        self._unwatch()
        if folders and self.enabled:
            self.watcher.addPaths(folders)  # the ones the system refuses are left to the timer
        self.watching.emit(len(self.watcher.directories()))

    def _unwatch(self) -> None:
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())

    def _on_event(self, _path: str) -> None:
        if self.enabled:
            self.settle.start()  # restarted by every event of a burst

    def _settled(self) -> None:
        """A burst of events is over: watch the tree as it is now (folders may have come or
        gone) and check."""
        self._watch(self.roots)
        self.check_due.emit()

    def shutdown(self) -> None:
        self.settle.stop()
        self.periodic.stop()
        self.list_task.wait()
