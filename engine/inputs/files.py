"""One checked way in for every file a user names (ground truth, configs, codebooks,
checkpoints, lists, caches beside a library).

``open_checked`` opens without blocking (a FIFO with no writer would hang a plain ``open``),
then refuses from the open descriptor what is not a regular file or is larger than the bound,
so nothing is read from a pipe, a device or a socket. ``loads_json`` counts the nesting before
Python's parser, which recurses once per level, sees the text.
"""

from __future__ import annotations

import json
import os
import re
import stat
from typing import IO, Any

from engine.errors import InputFileError

#: a file of plain data read whole (ground truth, lists) is refused above this size
MAX_BYTES = 256 * 1024 * 1024
#: JSON files (config.json, training state, caches) are refused beyond this nesting or size
MAX_JSON_DEPTH = 64
MAX_JSON_BYTES = 64 * 1024 * 1024

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _refuse_unless_regular(path: str | os.PathLike, st: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = _kind(st.st_mode)
        raise InputFileError(f"{os.fsdecode(path)}: {kind}, not a regular file; refused")
    if st.st_size > max_bytes:
        raise InputFileError(
            f"{os.fsdecode(path)}: too large ({st.st_size:,} bytes, at most {max_bytes:,}); refused"
        )


def _os_error(path: str | os.PathLike, e: OSError) -> InputFileError:
    if isinstance(e, FileNotFoundError):
        return InputFileError(f"{os.fsdecode(path)}: file not found")
    if isinstance(e, IsADirectoryError):
        return InputFileError(f"{os.fsdecode(path)}: a folder, not a regular file; refused")
    return InputFileError(f"{os.fsdecode(path)}: cannot read ({e.strerror or e})")


def check_regular(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> os.stat_result:
    """``path``'s status once it is known to be a regular file of at most ``max_bytes``
    (a link is followed); else ``InputFileError``. For readers that open the file themselves
    (safetensors maps it)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise _os_error(path, e) from None
    _refuse_unless_regular(path, st, max_bytes)
    return st


def open_checked(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> IO[bytes]:
    """``path`` opened for reading in binary, refused unless it is a regular file of at most
    ``max_bytes``: checked before it is opened (a device is never opened) and again on the
    opened file (opened without blocking), so a swap in between cannot slip past."""
    check_regular(path, max_bytes)  # a device is refused before it is even opened
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise _os_error(path, e) from None
    try:
        _refuse_unless_regular(path, os.fstat(fd), max_bytes)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> bytes:
    """The whole of ``path`` (see ``open_checked``); a file that grew past ``max_bytes`` while
    it was read is refused too."""
    chunks, total = [], 0
    try:
        with open_checked(path, max_bytes) as f:
            while chunk := f.read(1 << 20):
                chunks.append(chunk)
                total += len(chunk)
                if total > max_bytes:
                    raise InputFileError(
                        f"{os.fsdecode(path)}: too large (more than {max_bytes:,} bytes); refused"
                    )
    except OSError as e:
        raise _os_error(path, e) from None
    return b"".join(chunks)


def read_text(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> str:
    """``read_bytes`` decoded as UTF-8 (a byte-order mark is dropped)."""
    try:
        return read_bytes(path, max_bytes).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputFileError(
            f"{os.fsdecode(path)}: not a text file (no UTF-8 at byte {e.start}); refused"
        ) from None


def loads_json(text: str | bytes, where: str) -> Any:
    """``json.loads`` for files a user may hand over: more than ``MAX_JSON_DEPTH`` levels of
    nesting or ``MAX_JSON_BYTES`` characters is an ``InputFileError`` naming ``where``,
    checked before parsing."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise InputFileError(
                f"{where}: not a text file (no UTF-8 at byte {e.start}); refused"
            ) from None
    if len(text) > MAX_JSON_BYTES:
        raise InputFileError(f"{where}: too large for a JSON settings file ({len(text):,} bytes)")
    depth = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise InputFileError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(text)
    except RecursionError:
        raise InputFileError(f"{where}: JSON nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, and int() of a number of too many digits
        msg = getattr(e, "msg", str(e))
        line = f" at line {e.lineno}" if hasattr(e, "lineno") else ""
        raise InputFileError(f"{where}: not valid JSON ({msg}{line})") from None


def load_json(path: str | os.PathLike, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """``path`` read through ``open_checked`` and parsed by ``loads_json``."""
    return loads_json(read_bytes(path, max_bytes), os.fsdecode(path))
