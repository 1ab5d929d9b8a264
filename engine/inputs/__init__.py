"""Reading the files a user hands over: regular files only (never a FIFO, device or socket),
bounded in size, JSON bounded in nesting; every refusal is one line naming the file."""

from engine.inputs.files import (
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    check_regular,
    load_json,
    loads_json,
    open_checked,
    read_bytes,
    read_text,
)

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "check_regular",
    "load_json",
    "loads_json",
    "open_checked",
    "read_bytes",
    "read_text",
]
