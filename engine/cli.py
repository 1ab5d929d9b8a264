"""``visual-search`` command line. The GUI and the CLI call the same engine functions."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from . import __version__
from .errors import BadImageError, VisualSearchError


def _bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.replace(" ", "").split(",")
    if len(parts) != 4:
        raise argparse.ArgumentTypeError("expected X0,Y0,X1,Y1")
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError("expected four numbers X0,Y0,X1,Y1") from None
    return vals  # type: ignore[return-value]


def _emit(args: argparse.Namespace, obj, text: str) -> None:
    if getattr(args, "json", False):
        json.dump(obj, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(text)


# ----------------------------------------------------------------------------- commands


def cmd_models(args: argparse.Namespace) -> int:
    from .modelinfo import architecture_table

    rows = architecture_table(backbones=args.backbone)
    lines = [
        f"{'name':<7} {'backbone':<10} {'params':>9} {'w/o whitening':>14} {'backbone':>9} "
        f"{'dim':>5}  scales"
    ]
    for r in rows:
        lines.append(
            f"{r['name']:<7} {r['backbone']:<10} {r['params'] / 1e6:>8.2f}M "
            f"{r['params_without_whitening'] / 1e6:>13.2f}M {r['backbone_params'] / 1e6:>8.2f}M "
            f"{r['descriptor_dim']:>5}  {','.join(f'{s:g}' for s in r['scales'])}"
        )
    _emit(args, rows, "\n".join(lines))
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from .checkpoint import resolve_model
    from .extract import Extractor

    t0 = time.perf_counter()
    model = resolve_model(args.model, pretrained=args.pretrained)
    ex = Extractor(
        model,
        device=args.device,
        precision=args.precision,
        image_size=args.image_size,
    )
    # decode first: a bad photo is reported before any network work
    try:
        prepared = ex.prepare(args.image, args.bbox)
    except BadImageError as e:
        raise BadImageError(f"{os.fsdecode(args.image)}: {e}") from None
    out = ex.run([prepared])[0]
    seconds = time.perf_counter() - t0
    cfg = model.config
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
    _emit(args, obj, text)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench_extract

    if args.what == "extract":
        rows = bench_extract(
            models=args.models,
            backbone=args.backbone,
            sizes=args.sizes,
            repeats=args.repeats,
            device=args.device,
            precision=args.precision,
            compile=args.compile,
            channels_last=not args.no_channels_last,
            log=None if args.json else print,
        )
        if args.json:
            _emit(args, rows, "")
    return 0


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="visual-search",
        description="Find the same object or place across your photo folders.",
    )
    p.add_argument("--version", action="version", version=f"visual-search {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def device_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")
        sp.add_argument(
            "--precision",
            default="auto",
            choices=["auto", "fp32", "bf16", "fp16"],
            help="auto: bf16 on CUDA and on CPUs with native bf16, else fp32",
        )

    sp = sub.add_parser("models", help="list the model architectures this build can create")
    sp.add_argument("--backbone", action="append", help="only these backbones (repeatable)")
    sp.add_argument("--json", action="store_true", help="print JSON")
    sp.set_defaults(func=cmd_models)

    sp = sub.add_parser("embed", help="print the global descriptor and attention of one photo")
    sp.add_argument("image", help="photo file")
    sp.add_argument(
        "--model",
        default=None,
        help="checkpoint directory, architecture name (gem, cider, ugalr; "
        "optionally NAME:BACKBONE) or 'default'",
    )
    sp.add_argument(
        "--bbox",
        type=_bbox,
        default=None,
        metavar="X0,Y0,X1,Y1",
        help="describe only this region (pixels of the upright photo)",
    )
    sp.add_argument("--image-size", type=int, default=None, help="long side in pixels")
    sp.add_argument(
        "--pretrained",
        default="cache",
        choices=["none", "cache", "download"],
        help="ImageNet weights for a freshly built architecture (default: use them "
        "only if already in the local torch cache)",
    )
    sp.add_argument("--json", action="store_true", help="print one JSON object")
    device_opts(sp)
    sp.set_defaults(func=cmd_embed)

    sp = sub.add_parser("bench", help="measure speed (prints figures; never asserts)")
    sp.add_argument("what", choices=["extract"])
    sp.add_argument("--models", nargs="+", default=["gem", "cider", "ugalr"])
    sp.add_argument("--backbone", default="resnet50")
    sp.add_argument("--sizes", nargs="+", type=int, default=[512, 1024])
    sp.add_argument("--repeats", type=int, default=3)
    sp.add_argument("--compile", action="store_true", help="wrap models in torch.compile")
    sp.add_argument("--no-channels-last", action="store_true")
    sp.add_argument("--json", action="store_true")
    device_opts(sp)
    sp.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except VisualSearchError as e:
        print(f"visual-search: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("visual-search: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # never a bare traceback for the user
        if os.environ.get("VISUAL_SEARCH_DEBUG"):
            raise
        print(
            f"visual-search: internal error: {type(e).__name__}: {e} "
            "(set VISUAL_SEARCH_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
