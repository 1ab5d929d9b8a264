"""``visual-search export``: copy a checkpoint, in half precision or with a new image size."""

from __future__ import annotations

import argparse

from engine.cli.common import add_json, at_least, emit


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help="copy a checkpoint, in half precision or resized")
    p.add_argument("src", help="checkpoint directory")
    p.add_argument("dst", help="new checkpoint directory")
    p.add_argument("--half", action="store_true", help="store weights as float16")
    p.add_argument("--image-size", type=at_least(32), default=None, help="new default long side")
    add_json(p)
    return p


def run(args: argparse.Namespace) -> int:
    from engine.network.loader import torch_available

    if torch_available():
        from engine.network.checkpoint import export_checkpoint

        out = export_checkpoint(args.src, args.dst, half=args.half, image_size=args.image_size)
    else:
        from engine.network.files import copy_checkpoint

        out = copy_checkpoint(args.src, args.dst, half=args.half, image_size=args.image_size)
    size = sum(f.stat().st_size for f in out.iterdir())
    emit(
        args,
        {"out": str(out), "bytes": size, "half": args.half},
        f"{out}: {size / 1e6:.1f} MB",
    )
    return 0
