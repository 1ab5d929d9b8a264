"""``visual-search errors``: photos that could not be indexed, with the reason."""

from __future__ import annotations

import argparse

from engine.cli.common import add_json, add_library, emit, open_library, shown
from engine.library.store.fspath import path_bytes_field


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "errors", help="photos that could not be indexed, and indexed photos with a note"
    )
    add_library(p)
    add_json(p)
    return p


def run(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        rows = lib.errors()
    obj = [{"path": r.display_path, **path_bytes_field(r.path), "reason": r.error} for r in rows]
    text = "\n".join(shown(f"{o['path']}: {o['reason']}") for o in obj) or "no failed photos"
    emit(args, obj, text)
    return 0
