"""What every command shares: the common options (each defined once), argument types, output
and the terminal progress bar.

Nothing here imports torch when loaded: ``visual-search --help`` starts without it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import unicodedata

MODEL_HELP = (
    "checkpoint directory, architecture name (gem, cider, ugalr; optionally "
    "NAME:BACKBONE) or 'default'"
)
LIBRARY_MODEL_HELP = f"{MODEL_HELP} (default: the library's current model)"
PRETRAINED_CHOICES = ("none", "cache", "download")
#: the exit status for bad input (a file that cannot be read or used, a wrong value): the one
#: argparse gives a usage error, so a script tells "fix what you passed" from "it broke" (3)
EXIT_BAD_INPUT = 2


# ----------------------------------------------------------------------------- options


def add_json(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument("--json", action="store_true", help=help)


def add_model(p: argparse.ArgumentParser, help: str = LIBRARY_MODEL_HELP) -> None:
    p.add_argument("--model", default=None, help=help)


def add_device(p: argparse.ArgumentParser) -> None:
    """``--device`` and ``--precision`` (the choices of ``engine.network.runtime``, which loads
    torch)."""
    p.add_argument(
        "--device", default="auto", type=device_name, help="auto | cpu | cuda (default: auto)"
    )
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="auto: bf16 on CUDA and on CPUs with native bf16, else fp32",
    )


def add_library(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--library",
        default=None,
        metavar="DIR",
        help="library directory (default: the user data dir, or $VISUAL_SEARCH_HOME/library)",
    )


def add_pipeline(p: argparse.ArgumentParser) -> None:
    """``--pipeline`` and ``--verify``: which search path ranks, how many photos are checked."""
    p.add_argument(
        "--pipeline",
        default="fused",
        choices=["fused", "local", "global"],
        help="fused (default): local features and, when it learned from photos, the network, "
        "the best checked geometrically; local: local features alone; global: the network alone",
    )
    p.add_argument(
        "--verify",
        type=at_least(1),
        default=50,
        metavar="K",
        help="photos checked geometrically (50)",
    )


def add_pretrained(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument("--pretrained", default="cache", choices=PRETRAINED_CHOICES, help=help)


class RegistryNames:
    """The architecture names as argparse ``choices``, read from the torch-free catalog only
    when argparse looks.

    Set it on the action after ``add_argument``, which would otherwise list the choices at once.
    """

    def __iter__(self):
        from engine.network.catalog import architecture_names

        return iter(architecture_names())

    def __contains__(self, value: object) -> bool:
        return value in list(self)


# ----------------------------------------------------------------------------- argument types


def at_least(low: float, kind: type = int):
    """An argparse type: a number of ``kind`` no smaller than ``low``."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = _KIND_NAMES[kind]
            raise argparse.ArgumentTypeError(f"expected {what}, not {text!r}") from None
        if not value >= low:  # NaN fails too
            raise argparse.ArgumentTypeError(f"must be at least {low:g}, not {text}")
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
        return value

    parse.__name__ = f"{_KIND_NAMES[kind]} >= {low:g}"
    return parse


_KIND_NAMES = {int: "a whole number", float: "a number"}
#: what ``--device`` takes (``cuda:N`` too); ``engine.network.runtime`` says whether it exists
DEVICE_NAMES = ("auto", "cpu", "cuda")


def device_name(text: str) -> str:
    if text in DEVICE_NAMES or re.fullmatch(r"cuda:\d+", text):
        return text
    raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, not {text!r}")


def bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.replace(" ", "").split(",")
    if len(parts) != 4:
        raise argparse.ArgumentTypeError("expected X0,Y0,X1,Y1")
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError("expected four numbers X0,Y0,X1,Y1") from None
    return vals  # type: ignore[return-value]


def point(text: str) -> tuple[float, float]:
    parts = text.replace(" ", "").split(",")
    try:
        x, y = (float(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError("expected X,Y") from None
    return x, y


# ----------------------------------------------------------------------------- output


def json_safe(obj):
    """NaN and infinities are not JSON: they become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def emit(args: argparse.Namespace, obj, text: str) -> None:
    """Print ``obj`` as JSON with ``--json``, else ``text`` (only in the first process under
    torchrun: ``RANK`` > 0 is silent)."""
    if (
        int(os.environ.get("RANK", "0")) != 0
    ):  # engine.network.runtime.is_main_process, without torch
        return
    if getattr(args, "json", False):
        json.dump(json_safe(obj), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
    else:  # every line made safe, whether or not the command escaped the names in it
        print("\n".join(shown(line) for line in text.split("\n")))


def shown(text: str) -> str:
    """``text`` made safe for one line of a terminal: control characters (a newline or an
    escape sequence in a file name) and invisible format characters (the bidi overrides such
    as U+202E, which would print a name backwards, zero-width spaces) become escapes
    (``\\n``, ``\\x1b``, ``\\u202e``), and bytes of a name that are not UTF-8 appear as
    ``\\xff``."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:  # an undecodable byte, kept by os.fsdecode
            out.append(f"\\x{o - 0xDC00:02x}")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append(repr(ch)[1:-1])
        else:
            out.append(ch)
    return "".join(out)


def quiet_resource_tracker() -> None:
    """Keep multiprocessing's resource tracker from warning of "leaked semaphore objects"
    after a command was killed. The worker pools (spawn) name their semaphores, and a killed
    command cannot unlink them; the tracker then does, which is right, but it also prints a
    warning to the terminal after the command is gone. It takes its warning filters from ours
    when it starts, so this must run before the first pool."""
    quiet = "ignore::UserWarning:multiprocessing.resource_tracker"
    if quiet not in sys.warnoptions:
        sys.warnoptions.append(quiet)


#: the longest error line printed (a message quoting a whole file is cut)
MAX_ERROR_LINE = 500


def error_line(kind: str, message: str) -> str:
    """``visual-search: KIND: MESSAGE`` as one terminal line of at most ``MAX_ERROR_LINE``
    characters: names in it escaped (``shown``), the end cut with an ellipsis."""
    line = f"visual-search: {kind}: {shown(message)}"
    if len(line) > MAX_ERROR_LINE:
        line = line[: MAX_ERROR_LINE - 1] + "…"
    return line


def open_library(args: argparse.Namespace, mode: str = "read"):
    """The ``--library`` of ``args`` (use it as ``with open_library(args) as lib:``).

    ``mode``: ``read`` for commands that only read (the database is opened read-only and
    must exist), ``write`` for those that change a library, ``create`` for those that add
    photos (the only ones that make a new library)."""
    from engine.library import Library

    return Library(
        args.library,
        device=getattr(args, "device", "auto"),
        mode=mode,
        max_features=getattr(args, "local_features", None),
        precision=getattr(args, "precision", "auto"),
    )


class TerminalProgress:
    """A one-line progress bar on stderr when it is a terminal (silent otherwise)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int, message: str) -> None:
        if not self.enabled or (time.monotonic() - self._last < 0.1 and done != total):
            return
        self._last = time.monotonic()
        if total:
            width = 30
            filled = int(width * done / total)
            bar = "#" * filled + "-" * (width - filled)
            line = f"[{bar}] {done}/{total} {message}"
        else:
            line = message
        sys.stderr.write("\r" + shown(line)[:120].ljust(120))
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
