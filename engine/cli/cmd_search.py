"""``visual-search search``: library photos ranked by similarity to a query photo."""

from __future__ import annotations

import argparse
import os

from engine.cli.common import (
    add_device,
    add_json,
    add_library,
    add_model,
    add_pipeline,
    at_least,
    bbox,
    emit,
    open_library,
    shown,
)
from engine.errors import BadImageError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("search", help="rank library photos by similarity to a query photo")
    p.add_argument("image", help="query photo")
    p.add_argument(
        "--bbox",
        type=bbox,
        default=None,
        metavar="X0,Y0,X1,Y1",
        help="search for this region of the query",
    )
    p.add_argument("-k", type=at_least(1), default=20, help="number of results (default 20)")
    p.add_argument("--folder", default=None, help="only results inside this folder")
    p.add_argument(
        "--rerank",
        type=at_least(0),
        default=0,
        metavar="K",
        help="with --pipeline global: verify its top K geometrically",
    )
    add_pipeline(p)
    add_model(p)
    add_library(p)
    add_json(p)
    add_device(p)
    return p


def run(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        try:
            res = lib.search(
                args.image,
                box=args.bbox,
                k=args.k,
                folder=args.folder,
                model=args.model,
                rerank=args.rerank,
                pipeline=args.pipeline,
                verify=args.verify,
            )
        except BadImageError as e:
            raise BadImageError(f"{os.fsdecode(args.image)}: {e}") from None
        verified = [h for h in res.hits if h.verified]
        others = [h for h in res.hits if not h.verified]
        lines = [
            f"{i + 1:>3}. {h.score:.4f}  {shown(h.path)}  (verified: {h.inliers} matching "
            f"points){_gone(h)}"
            for i, h in enumerate(verified)
        ]
        if res.no_match:
            other = "other " if res.excluded_self else ""  # the query is in the library itself
            lines.append(
                f"no match: no {other}photo in the library shows this (checked geometrically)"
            )
        if others:
            if res.pipeline != "global":
                lines.append("other similar photos (not verified):")
            lines += [
                f"{len(verified) + i + 1:>3}. {h.score:.4f}  {shown(h.path)}{_gone(h)}"
                for i, h in enumerate(others)
            ]
        if res.too_little_detail:  # not an error: the answer is that it cannot be searched
            lines = [res.message]
        elif not res.hits:
            lines = ["no results (is the library indexed? see `visual-search status`)"]
        if res.missing_vectors:
            lines.append(
                f"note: {res.missing_vectors} photos have no vector of this model yet and are "
                "not ranked by it; `visual-search index --vectors FOLDER` computes them"
            )
        emit(args, res.to_dict(), "\n".join(lines))
        return 0


def _gone(hit) -> str:
    """What a result line adds when its file is not there now."""
    return "" if hit.on_disk else "  (not on disk: moved, deleted, or on a drive not connected)"
