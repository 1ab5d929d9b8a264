"""Photos on screen: every pixel comes from ``engine.photo``'s ``load_photo`` (upright by EXIF).

Decoding runs on a worker and makes a ``QImage``; the ``QPixmap`` is made on the GUI thread.
"""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage, QPixmap

from app.workers import TaskSlot, Worker
from engine.photo import IMAGE_EXTENSIONS, load_photo

#: long side of a photo decoded for the query view and the compare dialog
DISPLAY_SIDE = 2048


def photo_file_filter() -> str:
    """The file dialogs' filter for photos, from the library's one list of extensions."""
    globs = " ".join(f"*{e.decode()}" for e in sorted(IMAGE_EXTENSIONS))
    return f"Photos ({globs})"


def pil_to_qimage(image: Image.Image) -> QImage:
    """An RGB PIL image → an owned ``QImage`` (any thread)."""
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    img = QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888)
    return img.copy()  # own the pixels: ``data`` goes away with this frame


def decode_for_display(
    path: str, max_side: int = DISPLAY_SIDE
) -> tuple[str, QImage, tuple[int, int]]:
    """``path``, the upright photo as a ``QImage`` (long side ≤ ``max_side``) and its upright
    full-resolution ``(W, H)``, the frame boxes and points are given in. Worker threads."""
    photo = load_photo(path, max_side=max_side)
    return path, pil_to_qimage(photo.image), photo.original_size


class PhotoLoader(QObject):
    """Decodes photos for one view off the GUI thread; a newer request drops an older one."""

    loaded = Signal(str, QPixmap, tuple)  # path, upright pixmap, upright full-size (W, H)
    failed = Signal(str, str)  # path, one-line reason

    def __init__(self, parent: QObject | None = None, max_side: int = DISPLAY_SIDE) -> None:
        super().__init__(parent)
        self.max_side = max_side
        self.task = TaskSlot(self)
        self.path: str | None = None  # the newest request

    def load(self, path: str) -> None:
        self.path = path
        w = Worker(decode_for_display, path, self.max_side)
        w.signals.result.connect(self._on_decoded)
        w.signals.error.connect(self._on_error)
        self.task.start(w)

    def _on_decoded(self, out: tuple[str, QImage, tuple[int, int]]) -> None:
        path, image, size = out
        self.loaded.emit(path, QPixmap.fromImage(image), tuple(size))

    def _on_error(self, message: str, _details: str) -> None:
        self.failed.emit(self.path or "", message)

    def wait(self, timeout: float = 30.0) -> bool:
        return self.task.wait(timeout)


def show_photo(view, path: str) -> PhotoLoader:
    """Decode ``path`` into ``view`` (a ``QueryView``) in the background."""
    loader = PhotoLoader(view)
    loader.loaded.connect(lambda _p, pm, size: view.set_photo(pm, size))
    loader.load(path)
    return loader
