"""``visual-search audit``: training classes that show what an evaluation set's queries show."""

from __future__ import annotations

import argparse

from engine.cli.common import add_device, add_json, add_model, at_least, emit


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("audit", help="find training classes that overlap an evaluation set")
    p.add_argument("--train", required=True, help="training set (folder or GLDv2 CSV)")
    p.add_argument("--images", default=None, help="GLDv2: image root")
    p.add_argument(
        "--eval",
        required=True,
        help="gnd_*.pkl (photos in jpg/ beside it) or a folder-per-class set",
    )
    p.add_argument("--out", default=None, metavar="FILE", help="write the exclusion list")
    p.add_argument(
        "--shortlist",
        type=at_least(1),
        default=50,
        help="training photos verified per query (by global similarity)",
    )
    p.add_argument(
        "--min-inliers",
        type=int,
        default=None,
        help="also require this many inliers of a verified pair (default: verified is enough, "
        "as in a search)",
    )
    add_model(p)
    add_json(p)
    add_device(p)
    return p


def run(args: argparse.Namespace) -> int:
    from engine.evaluation.overlap import audit
    from engine.network.loader import open_extractor
    from engine.training.data import open_dataset

    train = open_dataset(args.train, images=args.images)  # refused before the model loads
    ex, _ = open_extractor(args.model, args.device, args.precision)
    rep = audit(ex, train, args.eval, shortlist=args.shortlist, min_inliers=args.min_inliers or 0)
    if args.out:
        rep.write_exclusions(args.out)
    d = rep.to_dict()
    lines = [
        f"{len(d['overlapping_classes'])} of {d['train_classes']} training classes show "
        f"objects or places of the {d['queries']} evaluation queries"
    ]
    for c in d["overlapping_classes"]:
        best = d["evidence"][c][0]
        lines.append(
            f"  {c}: e.g. {best['train_image']} ~ {best['query']} ({best['inliers']} inliers)"
        )
    if args.out:
        lines.append(f"exclusion list written to {args.out} (use: train --exclude-classes)")
    emit(args, d, "\n".join(lines))
    return 0
