"""The ``visual-search`` parser, built from ``COMMANDS``, and ``main``: dispatch and exit codes.

Exit codes: 0 done, 2 bad input (one line on stderr naming the file and the reason) or a
usage error (argparse), 3 an internal error, 130 interrupted. ``repair`` exits 1 when it could
not finish.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

from engine import __version__
from engine.cli import (
    cmd_audit,
    cmd_bench,
    cmd_codebook,
    cmd_duplicates,
    cmd_embed,
    cmd_errors,
    cmd_evaluate,
    cmd_export,
    cmd_forget,
    cmd_index,
    cmd_localize,
    cmd_models,
    cmd_repair,
    cmd_search,
    cmd_status,
    cmd_synth,
    cmd_train,
)
from engine.cli.common import (
    EXIT_BAD_INPUT,
    MAX_ERROR_LINE,
    error_line,
    quiet_resource_tracker,
)
from engine.errors import VisualSearchError

EXIT_INTERNAL = 3

# in the order `visual-search --help` lists them; each has add_parser(subparsers) and run(args)
COMMANDS = (
    cmd_models,
    cmd_embed,
    cmd_index,
    cmd_search,
    cmd_status,
    cmd_errors,
    cmd_forget,
    cmd_repair,
    cmd_duplicates,
    cmd_synth,
    cmd_train,
    cmd_export,
    cmd_evaluate,
    cmd_audit,
    cmd_localize,
    cmd_codebook,
    cmd_bench,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="visual-search",
        description="Find the same object or place across your photo folders.",
        epilog=(
            "With no command (or with `gui`), visual-search opens the desktop window "
            "(`visual-search gui --help` for its options). `visual-search --self-test` checks "
            "the installation without a window."
        ),
    )
    p.add_argument("--version", action="version", version=f"visual-search {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS:
        cmd.add_parser(sub).set_defaults(func=cmd.run)
    return p


#: options whose value is coordinates, which may start with a minus sign
COORDINATE_OPTIONS = ("--bbox", "--box", "--point")
_COORDINATES = re.compile(r"-[\d.]")


def joined_coordinates(argv: Sequence[str]) -> list[str]:
    """``--bbox -10,-10,50,50`` as ``--bbox=-10,-10,50,50``: argparse would take a value that
    starts with a minus sign (and is not one plain number) for an option and say the option
    lacks its argument."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in COORDINATE_OPTIONS and i + 1 < len(argv) and _COORDINATES.match(argv[i + 1]):
            out.append(f"{a}={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    quiet_resource_tracker()
    parser = build_parser()
    args = parser.parse_args(joined_coordinates(sys.argv[1:] if argv is None else argv))
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except VisualSearchError as e:
        print(error_line("error", str(e)), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("visual-search: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as e:  # never a bare traceback for the user
        if os.environ.get("VISUAL_SEARCH_DEBUG"):
            raise
        hint = " (set VISUAL_SEARCH_DEBUG=1 for the traceback)"
        line = error_line("internal error", f"{type(e).__name__}: {e}")
        if len(line) + len(hint) > MAX_ERROR_LINE:
            line = line[: MAX_ERROR_LINE - len(hint) - 1] + "…"
        print(line + hint, file=sys.stderr)
        return EXIT_INTERNAL
