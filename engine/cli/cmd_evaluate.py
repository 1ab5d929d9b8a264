"""``visual-search evaluate``: Revisited Oxford/Paris protocol, or leave-one-out mAP."""

from __future__ import annotations

import argparse

from engine.cli.common import (
    add_device,
    add_json,
    add_model,
    add_pipeline,
    add_pretrained,
    at_least,
    emit,
)
from engine.errors import VisualSearchError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("evaluate", help="Revisited Oxford/Paris protocol, or leave-one-out mAP")
    p.add_argument("--gnd", default=None, help="gnd_*.pkl ground truth")
    p.add_argument("--images", default=None, help="folder with the photos the gnd names")
    p.add_argument(
        "--classes",
        dest="classes_dir",
        default=None,
        help="folder-per-class set for leave-one-out mAP",
    )
    add_model(p)
    p.add_argument("--distractors", default=None, help="folder of extra database photos")
    p.add_argument(
        "--image-size", type=at_least(32), default=None, help="long side (default: the model's)"
    )
    add_pretrained(p)
    p.add_argument(
        "--save-ranking",
        default=None,
        metavar="FILE",
        help="write every database photo in rank order per query (JSON)",
    )
    p.add_argument(
        "--rerank",
        type=at_least(0),
        default=0,
        metavar="K",
        help="global pipeline: re-rank its top K by RootSIFT + RANSAC",
    )
    add_pipeline(p)
    p.add_argument("--codebook", default=None, help="codebook file (default: the shipped one)")
    add_json(p)
    add_device(p)
    return p


def run(args: argparse.Namespace) -> int:
    from engine.evaluation.revisitop import load_ground_truth
    from engine.evaluation.runner import evaluate_folder_set, evaluate_revisitop
    from engine.match.codebook import Codebook
    from engine.network.loader import open_extractor

    if args.gnd:
        load_ground_truth(args.gnd)  # a bad file is refused before the model loads
    ex, _ = open_extractor(
        args.model,
        args.device,
        args.precision,
        image_size=args.image_size,
        pretrained=args.pretrained,
    )
    if args.gnd:
        if not args.images:
            raise VisualSearchError("--gnd needs --images DIR (the photos it names)")
        res = evaluate_revisitop(
            ex,
            args.gnd,
            args.images,
            distractors=args.distractors,
            save_ranking=args.save_ranking,
            rerank=args.rerank,
            pipeline=args.pipeline,
            codebook=Codebook.load(args.codebook) if args.codebook else None,
            verify=args.verify,
        )
        text = "\n".join(
            f"{p}: mAP {res[p]['mAP']:.2f}  mP@1 {res[p]['mP@1']:.2f}  mP@5 {res[p]['mP@5']:.2f}"
            f"  mP@10 {res[p]['mP@10']:.2f}  ({res[p]['queries']} queries)"
            for p in "EMH"
        )
    elif args.classes_dir:
        res = evaluate_folder_set(ex, args.classes_dir)
        text = f"leave-one-out mAP {res['mAP']:.2f} on {res['images']} photos"
    else:
        raise VisualSearchError("give --gnd FILE --images DIR, or --classes DIR")
    emit(args, res, text)
    return 0
