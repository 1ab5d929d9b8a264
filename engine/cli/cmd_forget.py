"""``visual-search forget``: remove a folder from the library (the files stay on disk)."""

from __future__ import annotations

import argparse

from engine.cli.common import add_json, add_library, emit, open_library, shown
from engine.errors import VisualSearchError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("forget", help="remove a folder from the library (files stay on disk)")
    p.add_argument("path")
    add_library(p)
    add_json(p)
    return p


def run(args: argparse.Namespace) -> int:
    with open_library(args, "write") as lib:
        folders, files = lib.forget(args.path)
    if not folders and not files:
        raise VisualSearchError(f"{shown(args.path)}: not in the library")
    emit(
        args,
        {"folders": folders, "files": files},
        f"forgot {folders} folder(s) and {files} photo(s); the files on disk are untouched",
    )
    return 0
