"""``visual-search duplicates``: groups of near-duplicate photos in the library."""

from __future__ import annotations

import argparse

from engine.cli.common import add_json, add_library, add_model, emit, open_library, shown
from engine.library.store.fspath import path_bytes_field


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "duplicates", help="groups of near-duplicate photos (each pair verified geometrically)"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=0.05,
        help="least share of a photo's local features that must match (default 0.05)",
    )
    add_model(p)
    add_library(p)
    add_json(p)
    return p


def _line(h) -> str:
    """One photo of a group: its path, evidence, its other paths and whether it lies outside."""
    text = f"  {shown(h.path)}  ({h.inliers} matching points)"
    if h.links:
        text += "; the same file as " + ", ".join(shown(p) for p in h.links)
    if h.outside:
        text += "; outside the indexed folders (never trashed)"
    return text


def run(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        groups = lib.duplicates(threshold=args.threshold, model=args.model)
    groups_out = []
    lines = []
    for i, g in enumerate(groups):
        paths = {h.file_id: h.path for h in g}
        group = {"photos": [h.path for h in g], "pairs": [p.to_dict(paths) for p in g.pairs]}
        raw = [path_bytes_field(h.path, "b").get("b") for h in g]
        if any(raw):  # names that are not UTF-8, losslessly (base64), None for the others
            group["photos_bytes"] = raw
        links = {h.path: h.links for h in g if h.links}
        if links:  # the library's other paths to the same file: one photo, not a copy
            group["links"] = links
        outside = [h.path for h in g if h.outside]
        if outside:  # real file outside every indexed folder: never offered for the trash
            group["outside"] = outside
        groups_out.append(group)
        lines.append(f"group {i + 1} ({len(g)} photos):")
        lines += [_line(h) for h in g]
    obj = {"threshold": args.threshold, "groups": groups_out}
    emit(args, obj, "\n".join(lines) or "no near-duplicates")
    return 0
