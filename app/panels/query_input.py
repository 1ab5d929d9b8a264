"""What a person hands the search as a query — the clipboard's file, image or text (a path, a
``file://`` URL) — why a path cannot be searched, in one line, and the line naming the query."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QImage


def clipboard_query(md: QMimeData) -> tuple[str | None, str]:
    """The photo the clipboard's data names → ``(path, "")``, or ``(None, why not)``: a copied
    file, an image (saved to a temporary PNG), or text (``path_from_text``)."""
    if md.hasUrls() and md.urls()[0].isLocalFile():
        return path_from_text(md.urls()[0].toLocalFile())
    if md.hasImage():
        tmp = Path(tempfile.mkdtemp(prefix="vs-paste-")) / "pasted.png"
        QImage(md.imageData()).save(str(tmp))
        return str(tmp), ""
    return path_from_text(md.text() if md.hasText() else "")


def path_from_text(text: str) -> tuple[str | None, str]:
    """A photo path pasted as text (a path, ``~/…``, a ``file://`` URL, quoted or not; the
    first line) → ``(path, "")``, or ``(None, why it cannot be searched)`` in one line."""
    line = next((x.strip() for x in text.splitlines() if x.strip()), "")
    if len(line) >= 2 and line[0] == line[-1] and line[0] in "'\"":
        line = line[1:-1]
    if not line:
        return None, "The clipboard holds no photo, file or path to search"
    if line.startswith("file:"):
        url = QUrl(line)
        if not url.isLocalFile():
            return None, f"Not a file on this computer: {line}"
        line = url.toLocalFile()
    elif "://" in line:
        return None, f"Only photos on this computer can be searched, not {line}"
    path = os.path.expanduser(line)
    why = unsearchable(path)
    return (None, why) if why else (path, "")


def unsearchable(path: str) -> str:
    """Why the file at ``path`` cannot be searched, in one line ("" when it can be read; a
    file that is not a photo is the decoder's to say)."""
    name = os.path.basename(path.rstrip(os.sep)) or path
    if not os.path.exists(path):
        return f"Cannot search {name}: no such file ({path})"
    if os.path.isdir(path):
        return f"{name} is a folder: add it to the library with Add folder…, then search"
    if not os.access(path, os.R_OK):
        return f"Cannot search {name}: permission denied"
    return ""


def describe_query(path: str, box) -> str:
    """The query line: the photo's file name, and the region when a box is searched."""
    text = f"Query: {os.path.basename(path)}"
    if box is not None:
        w, h = round(box[2] - box[0]), round(box[3] - box[1])
        text += f" · searching a region of {w}×{h} px"
    return text
