"""Paths as the file system's bytes (cheap to import: no database, no numpy).

Stored paths are absolute, normalised bytes, so names that are not valid UTF-8 survive; a
path is inside a folder when it is the folder or starts with the folder and a separator.
"""

from __future__ import annotations

import base64
import os


def fs_bytes(path: str | os.PathLike | bytes) -> bytes:
    """A path as the bytes the file system uses (absolute, normalised)."""
    if isinstance(path, bytes):
        return os.path.abspath(path)
    return os.fsencode(os.path.abspath(os.fspath(path)))


def fs_text(path: bytes) -> str:
    """Display form of a stored path (undecodable bytes become surrogate escapes)."""
    return os.fsdecode(path)


def is_within(path: bytes, folder: bytes) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (both as stored: bytes, normalised)."""
    return path == folder or path.startswith(folder.rstrip(b"/") + b"/")


def path_bytes_field(path: str | bytes, key: str = "path_bytes") -> dict[str, str]:
    """``{key: base64 of the name's bytes}`` when the name is not valid UTF-8 (its readable
    form in JSON then holds surrogate escapes such as ``\\udcff``), else ``{}``: the lossless
    form of a name beside the readable one."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    try:
        raw.decode("utf-8")
        return {}
    except UnicodeDecodeError:
        return {key: base64.b64encode(raw).decode("ascii")}
