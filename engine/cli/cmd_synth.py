"""``visual-search synth``: photos of procedural objects in clutter (training, evaluation, demo)."""

from __future__ import annotations

import argparse

from engine.cli.common import add_json, emit


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("synth", help="generate photos of procedural objects in clutter")
    p.add_argument("what", choices=["train", "eval", "photos"])
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classes", type=int, default=50, help="train/photos: objects")
    p.add_argument("--per-class", type=int, default=10, help="train/photos: photos each")
    p.add_argument("--queries", type=int, default=20, help="eval: query objects")
    p.add_argument("--positives", type=int, default=6, help="eval: photos per query object")
    p.add_argument("--distractors", type=int, default=100, help="eval: other photos")
    p.add_argument("--size", type=int, nargs=2, default=[320, 240], metavar=("W", "H"))
    add_json(p)
    return p


def run(args: argparse.Namespace) -> int:
    from engine.training import generator

    size = tuple(args.size)
    if args.what == "train":
        info = generator.write_training_set(
            args.out, classes=args.classes, per_class=args.per_class, size=size, seed=args.seed
        )
        text = f"wrote {info['images']} photos of {info['classes']} objects to {args.out}"
    elif args.what == "eval":
        info = generator.write_eval_set(
            args.out,
            queries=args.queries,
            positives=args.positives,
            distractors=args.distractors,
            size=size,
            seed=args.seed,
        )
        text = (
            f"wrote {info['queries']} queries and {info['database']} database photos; "
            f"ground truth {info['gnd']}"
        )
    else:
        paths = generator.write_sample_photos(
            args.out, identities=args.classes, views=args.per_class, size=size
        )
        info = {"photos": len(paths), "out": str(args.out)}
        text = f"wrote {len(paths)} photos to {args.out}"
    emit(args, info, text)
    return 0
