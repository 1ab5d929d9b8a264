"""Thumbnails: decoded to ``QImage`` on worker threads, turned into ``QPixmap`` on the GUI thread,
kept in an LRU RAM cache and an on-disk cache keyed by (path, mtime, size). The newest requests
are served first, and old requests beyond a limit are dropped (no longer on screen)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap

from app.photo_loader import pil_to_qimage
from engine.errors import BadImageError
from engine.photo import load_photo


class _Loaded(QObject):
    loaded = Signal(str, QImage)


class _Job(QRunnable):
    def __init__(self, cache: ThumbnailCache) -> None:
        super().__init__()
        self.cache = cache

    def run(self) -> None:
        path = self.cache._next_request()
        if path is not None:
            self.cache._signals.loaded.emit(path, self.cache._decode(path))


class ThumbnailCache(QObject):
    ready = Signal(str)

    def __init__(
        self,
        size: int = 160,
        capacity: int = 2000,
        disk_dir: str | None = None,
        max_pending: int = 400,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.size = size
        self.capacity = capacity
        self.max_pending = max_pending
        self.disk_dir = Path(disk_dir) if disk_dir else None
        self._ram: OrderedDict[str, QPixmap] = OrderedDict()
        self._pending: list[str] = []  # newest last
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._signals = _Loaded()
        self._signals.loaded.connect(self._on_loaded)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)

    # ---------------------------------------------------------------- GUI thread

    def get(self, path: str) -> QPixmap | None:
        """The thumbnail if cached; otherwise None and a load is queued (``ready`` follows)."""
        pm = self._ram.get(path)
        if pm is not None:
            self._ram.move_to_end(path)
            return pm
        with self._lock:
            if path not in self._queued:
                self._queued.add(path)
                self._pending.append(path)
                while len(self._pending) > self.max_pending:  # scrolled away long ago
                    self._queued.discard(self._pending.pop(0))
                start = True
            else:
                start = False
        if start:
            self.pool.start(_Job(self))
        return None

    def _on_loaded(self, path: str, image: QImage) -> None:
        with self._lock:
            self._queued.discard(path)
        if image.isNull():
            return
        self._ram[path] = QPixmap.fromImage(image)
        while len(self._ram) > self.capacity:
            self._ram.popitem(last=False)
        self.ready.emit(path)

    def wait(self, ms: int = 30000) -> bool:
        return self.pool.waitForDone(ms)

    # ---------------------------------------------------------------- worker threads

    def _next_request(self) -> str | None:
        with self._lock:
            return self._pending.pop() if self._pending else None  # newest first

    def _disk_key(self, path: str) -> Path | None:
        if self.disk_dir is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = f"{path}\0{st.st_mtime_ns}\0{st.st_size}\0{self.size}".encode(
            "utf-8", "surrogateescape"
        )
        return self.disk_dir / f"{hashlib.sha1(key).hexdigest()}.jpg"

    def _decode(self, path: str) -> QImage:
        disk = self._disk_key(path)
        if disk is not None and disk.exists():
            img = QImage(str(disk))
            if not img.isNull():
                return img
        try:
            photo = load_photo(path, max_side=self.size)
        except BadImageError:
            return QImage()
        img = pil_to_qimage(photo.image)
        if disk is not None:
            disk.parent.mkdir(parents=True, exist_ok=True)
            tmp = disk.with_suffix(".tmp.jpg")
            if img.save(str(tmp), "JPG", 85):
                os.replace(tmp, disk)
        return img
