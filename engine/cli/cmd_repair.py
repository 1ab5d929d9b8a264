"""``visual-search repair``: set a damaged library database aside and rebuild the library."""

from __future__ import annotations

import argparse

from engine.cli.common import (
    TerminalProgress,
    add_device,
    add_json,
    add_library,
    add_model,
    emit,
    shown,
)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "repair",
        help="set a damaged library database aside (kept) and index its folders again",
    )
    add_library(p)
    add_model(p, help="model to index with (default: the one the damaged library used)")
    p.add_argument(
        "--no-index",
        dest="reindex",
        action="store_false",
        help="only set the damaged file aside and list its folders",
    )
    add_json(p)
    add_device(p)
    return p


def _head(r: dict) -> list[str] | None:
    """The first lines of the report, or None when the library is sound."""
    if r["emptied_from"]:
        return [
            f"{shown(r['library'])}: the library database is sound but names no folder (a "
            "repair that did not finish, or one run with --no-index, left it empty)",
            f"recovering the folders named by the damaged file kept as {shown(r['emptied_from'])}",
        ]
    if r["damaged"] is None:
        return None
    lines = [
        f"the library database was damaged ({shown(r['damaged'])}); your photos are untouched",
        *(f"kept the damaged file as {shown(k)}" for k in r["kept"]),
    ]
    if r["finished_interrupted"]:
        lines.append("finished a repair that was interrupted: its rebuilt database is in place")
        lines += [f"  rebuilt from {shown(f)}" for f in r["folders"] if f not in r["missing"]]
        return lines
    lines.append("made a fresh library database")
    return lines


def _text(r: dict) -> str:
    lines = _head(r)
    if lines is None:
        return f"{shown(r['library'])}: the library database is sound; nothing to repair"
    if r["finished_interrupted"]:
        return "\n".join(lines)
    here = [f for f in r["folders"] if f not in r["missing"]]
    if r["indexed"] is not None:
        s = r["indexed"]
        lines.append(f"indexed again {len(here)} folder(s) it named:")
        lines += [f"  {shown(f)}" for f in here]
        lines.append(f"  indexed {s['indexed']}, failed {s['failed']} in {s['seconds']:.1f} s")
    elif here:
        lines.append("folders it named (index them again with `visual-search index`):")
        lines += [f"  {shown(f)}" for f in here]
    lines += [f"folder no longer on disk, not indexed: {shown(f)}" for f in r["missing"]]
    if not r["folders"]:
        lines.append(
            "no folder could be read from the damaged file: index your photo folders again "
            "with `visual-search index FOLDER`"
        )
    if r["error"]:
        lines.append(f"indexing again failed: {shown(r['error'])}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from engine.library.repair import repair_library
    from engine.paths import default_library_dir

    bar = TerminalProgress(not args.json)
    try:
        report = repair_library(
            args.library or default_library_dir(),
            model=args.model,
            device=args.device,
            precision=args.precision,
            reindex=args.reindex,
            progress=bar,
        )
    finally:
        bar.close()
    r = report.to_dict()
    emit(args, r, _text(r))
    return 1 if report.error else 0
