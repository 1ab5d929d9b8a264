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


def is_photo_name(name: bytes) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
