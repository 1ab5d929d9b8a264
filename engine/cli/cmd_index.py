"""``visual-search index``: add folders to the library and index what changed."""

from __future__ import annotations

import argparse
import sys
import time

from engine.cli.common import (
    EXIT_BAD_INPUT,
    TerminalProgress,
    add_device,
    add_json,
    add_library,
    add_model,
    at_least,
    emit,
    error_line,
    open_library,
    shown,
)
from engine.errors import ConfigError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("index", help="add folders to the library and index what changed")
    p.add_argument("paths", nargs="+", metavar="PATH", help="photo folders")
    add_library(p)
    add_model(p)
    p.add_argument(
        "--watch", action="store_true", help="keep running and re-scan every --interval seconds"
    )
    p.add_argument(
        "--interval",
        type=at_least(0.1, float),
        default=60.0,
        metavar="SECONDS",
        help="seconds between scans with --watch (default 60)",
    )
    p.add_argument(
        "--follow-links",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="follow symbolic links in these folders even where they lead outside the indexed "
        "folders (kept with each folder; by default such links are skipped and listed)",
    )
    p.add_argument(
        "--local-features",
        type=at_least(1),
        default=None,
        metavar="N",
        help="strongest RootSIFT features kept per photo (default 1000)",
    )
    p.add_argument(
        "--vectors",
        action="store_true",
        help="also describe every photo with the network now (by default only when ranking "
        "uses its vectors: a model trained on photos); resumable",
    )
    add_json(p, "print a JSON summary")
    add_device(p)
    return p


def _summary_text(d: dict, problems: list[str]) -> str:
    text = (
        f"indexed {d['indexed']}, unchanged {d['skipped_unchanged']}, moved "
        f"{d['moved']}, removed {d['removed']}, failed {d['failed']} "
        f"in {d['seconds']:.1f} s"
    )
    if problems:
        text += "\n" + "\n".join(f"  note: {shown(p)}" for p in problems)
    if d["failed"]:
        text += "\n  (see `visual-search errors` for the reasons)"
    return text


def _pass(lib, args: argparse.Namespace, first: bool) -> list[str]:
    """One scan and index of ``args.paths``, its summary printed; the folders left out."""
    bar = TerminalProgress(not args.json)
    try:
        summary = lib.index(
            args.paths,
            model=args.model,
            progress=bar,
            vectors=True if args.vectors else None,
            follow_links=args.follow_links,
            retry_failed=first,  # a watch tries failed photos again at its start only
        )
    finally:
        bar.close()
    d = summary.to_dict()
    problems, refused = d.pop("problems"), d.pop("refused")
    d.pop("cancelled")
    if problems:
        d["problems"] = problems
    if refused:  # folders that were not there (named in the problems too)
        d["refused"] = refused
    emit(args, d, _summary_text(d, problems))
    return refused


def run(args: argparse.Namespace) -> int:
    with open_library(args, "create") as lib:
        if not args.watch:
            # a folder that was not there: the others are indexed, and a script is told
            # that what it passed needs fixing
            return EXIT_BAD_INPUT if _pass(lib, args, True) else 0
        try:
            _pass(lib, args, True)  # every folder missing at the start: refused, as without
            while True:
                sys.stdout.flush()
                time.sleep(args.interval)
                try:
                    _pass(lib, args, False)
                except ConfigError as e:  # every folder gone for now (a drive unplugged)
                    print(error_line("note", str(e)), file=sys.stderr)
        except KeyboardInterrupt:
            return 0
