"""``visual-search duplicates``: groups of near-duplicate photos in the library."""

from __future__ import annotations

import argparse

from .common import add_json, add_library, add_model, emit, open_library


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("duplicates", help="groups of near-duplicate photos")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.95,
        help="cosine similarity for a pair to count (default 0.95)",
    )
    add_model(p)
    add_library(p)
    add_json(p)
    return p


def run(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        groups = lib.duplicates(threshold=args.threshold, model=args.model)
    obj = {
        "threshold": args.threshold,
        "groups": [[{"path": h.path, "score": round(h.score, 6)} for h in g] for g in groups],
    }
    lines = []
    for i, g in enumerate(groups):
        lines.append(f"group {i + 1} ({len(g)} photos):")
        lines += [f"  {h.path}" for h in g]
    emit(args, obj, "\n".join(lines) or "no near-duplicates")
    return 0
