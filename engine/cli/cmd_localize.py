"""``visual-search localize``: outline the clicked (or boxed) object of a query in other photos.

The same code as the window's click (``Library.locate``): photos in ``--library`` go through
it (the search's evidence, stored codes, the files); other photos are described on the spot
exactly as a library stores them, so each gets the outline it would get in a library.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from engine.cli.common import add_device, add_json, add_model, bbox, emit, point, shown
from engine.errors import BadImageError, VisualSearchError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "localize", help="outline the clicked (or boxed) object of a query in other photos"
    )
    p.add_argument("query", help="query photo")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photos to find it in")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--point", type=point, metavar="X,Y", help="the click in the query (its pixels)"
    )
    where.add_argument(
        "--box", type=bbox, metavar="X0,Y0,X1,Y1", help="a box drawn in the query (its pixels)"
    )
    p.add_argument(
        "--library",
        default=None,
        metavar="DIR",
        help="a library holding the photos: they are located through it (default: describe "
        "every photo on the spot)",
    )
    add_model(p, "with --library: the model of its search (default: the library's)")
    p.add_argument(
        "--overlay", default=None, metavar="DIR", help="write each photo with its outline drawn"
    )
    add_json(p)
    add_device(p)
    return p


def run(args: argparse.Namespace) -> int:
    from engine.match.target import click_problem
    from engine.photo.decode import load_photo

    try:
        size = load_photo(args.query, 64).original_size
    except BadImageError as e:
        raise BadImageError(f"{args.query}: {e}") from None
    if args.point is not None and (problem := click_problem(args.point, None, size)):
        raise VisualSearchError(problem)
    if args.library:
        locations = _through_library(args)
    else:
        from engine.match.codebook import default_codebook
        from engine.match.localize import locate_files

        locations = locate_files(args.query, args.photos, default_codebook(), args.point, args.box)
    if args.overlay:
        _draw(locations, Path(args.overlay))
    obj = {
        "query": args.query,
        "point": list(args.point) if args.point else None,
        "box": list(args.box) if args.box else None,
        "results": [loc.to_dict() for loc in locations],
    }
    emit(args, obj, "\n".join(_line(loc) for loc in locations))
    return 0


def _line(loc) -> str:
    if not loc.found:
        return f"{shown(loc.path)}: {loc.reason}"
    box = [round(v, 1) for v in loc.box]
    return (
        f"{shown(loc.path)}: found ({loc.method}, confidence {loc.confidence:.2f}, "
        f"{loc.inliers} inliers) box {box} polygon {loc.polygon}"
    )


def _through_library(args: argparse.Namespace) -> list:
    """Photos the library holds through ``Library.locate``, the others on the spot (with the
    library's codebook and settings), in the order given."""
    from engine.cli.common import open_library
    from engine.match.localize import locate_files

    with open_library(args) as lib:
        rows = {p: lib.store.files.file_by_path(p) for p in args.photos}
        ids = [r.id for r in rows.values() if r is not None]
        found = {
            loc.file_id: loc
            for loc in lib.locate(args.query, ids, box=args.box, point=args.point, model=args.model)
        }
        others = [p for p in args.photos if rows[p] is None or rows[p].id not in found]
        spot = (
            locate_files(args.query, others, lib.codebook(), args.point, args.box, lib.settings)
            if others
            else []
        )
        by_path = dict(zip(others, spot, strict=True))
    return [
        dataclasses.replace(found[rows[p].id], path=p) if p not in by_path else by_path[p]
        for p in args.photos
    ]


def _draw(locations, out: Path) -> None:
    """Each photo with its outline drawn, as PNG in ``out`` (at most 1024 px)."""
    from PIL import ImageDraw

    from engine.photo.decode import load_photo

    out.mkdir(parents=True, exist_ok=True)
    for loc in locations:
        if not loc.found:
            continue
        photo = load_photo(loc.path, 1024)
        img = photo.image.convert("RGB")
        f = photo.scale
        d = ImageDraw.Draw(img)
        pts = [(x * f, y * f) for x, y in loc.polygon]
        d.line([*pts, pts[0]], fill=(0, 255, 90), width=max(2, round(max(img.size) / 200)))
        img.save(out / f"{Path(loc.path).stem}.png")
