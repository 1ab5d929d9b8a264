"""Which file names are photos (by extension) — no imports beyond the standard library, so
training workers and the GUI can ask without loading the library or a decoder."""

from __future__ import annotations

import os

#: lower-case extensions (bytes, as ``os.scandir`` on a bytes path gives names)
IMAGE_EXTENSIONS = {
    b".jpg",
    b".jpeg",
    b".jpe",
    b".jfif",
    b".png",
    b".gif",
    b".bmp",
    b".tif",
    b".tiff",
    b".webp",
    b".heic",
    b".heif",
    b".avif",
    b".ppm",
    b".pgm",
    b".pbm",
}
#: camera RAW files, indexed through their embedded preview (``engine.photo.raw``)
RAW_EXTENSIONS = {
    b".dng",
    b".cr2",
    b".cr3",
    b".nef",
    b".arw",
    b".orf",
    b".rw2",
    b".raf",
    b".pef",
}
IMAGE_EXTENSIONS |= RAW_EXTENSIONS


def is_photo_name(name: bytes) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def escapes_folder(name: str) -> bool:
    """Whether the relative file ``name`` (from a data file: a CSV id, a ground-truth list)
    would leave the folder it is joined to: empty, absolute, a drive or UNC path, or more
    ``..`` than folders above it. Backslashes count as separators on every system."""
    if not name or "\x00" in name:
        return True
    p = name.replace("\\", "/")
    if p.startswith("/") or os.path.isabs(name) or (len(p) > 1 and p[1] == ":"):
        return True
    depth = 0
    for part in p.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def is_plain_name(name: str) -> bool:
    """A single file name: no separators, not ``.`` or ``..``, no NUL."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\x00")
