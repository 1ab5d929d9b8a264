"""``visual-search duplicates``: groups of near-duplicate photos in the library.

On a terminal, a progress line shows the stage, the rate and the time left; Ctrl+C stops the
search and prints the groups of the pairs checked so far (``"stopped": true`` in the JSON).
``--similar`` lists the groups of similar shots (bursts, the same scene) too, apart.
"""

from __future__ import annotations

import argparse
import signal
import threading

from engine.cli.common import (
    TerminalProgress,
    add_json,
    add_library,
    add_model,
    emit,
    open_library,
    shown,
)
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
    p.add_argument(
        "--similar",
        action="store_true",
        help="list the similar shots too (bursts, the same scene: not copies), apart",
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


def _group_obj(g) -> dict:
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
    return group


def _find(lib, args):
    """The groups; the first Ctrl+C stops the search and keeps what was found."""
    stop = threading.Event()
    bar = TerminalProgress(not args.json)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        return lib.duplicates(
            threshold=args.threshold,
            model=args.model,
            should_stop=stop.is_set,
            progress=bar,
            similar=args.similar,
        )
    finally:
        bar.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def run(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        groups = _find(lib, args)
    lines = []
    copies = [g for g in groups if getattr(g, "kind", "copies") == "copies"]
    similar = [g for g in groups if getattr(g, "kind", "copies") == "similar"]
    for i, g in enumerate(copies):
        lines.append(f"group {i + 1} ({len(g)} photos):")
        lines += [_line(h) for h in g]
    if not copies:
        lines.append("no near-duplicates")
    for i, g in enumerate(similar):
        lines.append(f"similar shots {i + 1} ({len(g)} photos, not copies):")
        lines += [_line(h) for h in g]
    stopped = bool(getattr(groups, "stopped", False))
    if stopped:
        lines.append(
            f"stopped early: {groups.checked} of {groups.candidates} candidate pairs checked"
        )
    obj = {
        "threshold": args.threshold,
        "groups": [_group_obj(g) for g in copies],
        "stopped": stopped,
    }
    if args.similar:
        obj["similar"] = [_group_obj(g) for g in similar]
    emit(args, obj, "\n".join(lines))
    return 0
