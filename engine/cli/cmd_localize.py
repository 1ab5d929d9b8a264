"""``visual-search localize``: outline the clicked object of a query in other photos."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import add_device, add_json, add_model, emit, point
from engine.errors import BadImageError, VisualSearchError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("localize", help="outline the clicked object of a query in other photos")
    p.add_argument("query", help="query photo")
    p.add_argument("results", nargs="+", metavar="RESULT", help="photos to find it in")
    p.add_argument(
        "--point",
        type=point,
        default=None,
        metavar="X,Y",
        help="the clicked point in the query (default: its salient object)",
    )
    add_model(p)
    p.add_argument(
        "--overlay",
        default=None,
        metavar="DIR",
        help="write PNGs with the heatmap and the outline drawn",
    )
    add_json(p)
    add_device(p)
    return p


def run(args: argparse.Namespace) -> int:
    from engine.network.attention import render_overlay
    from engine.network.checkpoint import resolve_model
    from engine.network.extract import Extractor
    from engine.network.seed import Localizer

    ex = Extractor(resolve_model(args.model), device=args.device, precision=args.precision)
    loc = Localizer(ex)
    try:
        seed = loc.seed_patch(args.query, args.point)
    except BadImageError as e:
        raise BadImageError(f"{args.query}: {e}") from None
    out_dir = Path(args.overlay) if args.overlay else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    rows, lines = [], []
    for r in args.results:
        try:
            found = loc.localize(args.query, r, point=args.point)
        except (BadImageError, VisualSearchError) as e:
            rows.append({"path": r, "error": str(e)})
            lines.append(f"{r}: {e}")
            continue
        box = [round(v, 1) for v in found.box]
        rows.append({"path": r, "box": box, "score": round(found.score, 4)})
        lines.append(f"{r}: box {box} score {found.score:.3f}")
        if out_dir:
            render_overlay(ex, r, found.box).save(out_dir / f"{Path(r).stem}.png")
    if out_dir:
        render_overlay(ex, args.query, point=args.point).save(
            out_dir / f"query_{Path(args.query).stem}.png"
        )
    obj = {
        "query": args.query,
        "point": list(args.point) if args.point else None,
        "seed_patch": list(seed),
        "results": rows,
    }
    emit(args, obj, "\n".join(lines))
    return 0 if any("box" in r for r in rows) or not rows else 1
