"""``visual-search embed``: the global descriptor and attention map of one photo."""

from __future__ import annotations

import argparse
import os
import time

from engine.cli.common import (
    MODEL_HELP,
    add_device,
    add_json,
    add_model,
    add_pretrained,
    at_least,
    bbox,
    emit,
)
from engine.errors import BadImageError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("embed", help="print the global descriptor and attention of one photo")
    p.add_argument("image", help="photo file")
    add_model(p, MODEL_HELP)
    p.add_argument(
        "--bbox",
        type=bbox,
        default=None,
        metavar="X0,Y0,X1,Y1",
        help="describe only this region (pixels of the upright photo)",
    )
    p.add_argument("--image-size", type=at_least(32), default=None, help="long side in pixels")
    add_pretrained(
        p,
        "ImageNet weights for a freshly built architecture (default: use them "
        "only if already in the local torch cache)",
    )
    add_json(p, "print one JSON object")
    add_device(p)
    return p


def run(args: argparse.Namespace) -> int:
    from engine.network.loader import open_extractor

    t0 = time.perf_counter()
    ex, _ = open_extractor(
        args.model,
        args.device,
        args.precision,
        image_size=args.image_size,
        pretrained=args.pretrained,
    )
    # decode first: a bad photo is reported before any network work
    try:
        prepared = ex.prepare(args.image, args.bbox)
    except BadImageError as e:
        raise BadImageError(f"{os.fsdecode(args.image)}: {e}") from None
    out = ex.run([prepared])[0]
    seconds = time.perf_counter() - t0
    cfg = ex.config
    obj = {
        "path": os.fsdecode(args.image),
        "model": {
            "architecture": cfg.architecture,
            "backbone": cfg.backbone,
            "source": args.model or "default",
        },
        "device": str(ex.device),
        "precision": ex.precision.name,
        "dim": int(out.descriptor.shape[0]),
        "descriptor": [round(float(v), 7) for v in out.descriptor],
        "attention": {
            "height": int(out.attention.shape[0]),
            "width": int(out.attention.shape[1]),
            "values": [[round(float(v), 4) for v in row] for row in out.attention],
        },
        "input_size": list(out.input_size),
        "original_size": list(out.original_size),
        "box": list(out.box) if out.box else None,
        "seconds": round(seconds, 4),
    }
    head = ", ".join(f"{v:+.4f}" for v in out.descriptor[:6])
    text = (
        f"{obj['path']}: {cfg.architecture}/{cfg.backbone} descriptor of {obj['dim']} dims "
        f"[{head}, ...]\nattention {obj['attention']['height']}x{obj['attention']['width']}, "
        f"input {out.input_size[0]}x{out.input_size[1]}, {ex.device} {ex.precision.name}, "
        f"{seconds:.2f} s"
    )
    emit(args, obj, text)
    return 0
