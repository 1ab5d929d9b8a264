"""``visual-search bench``: measure speed (prints figures; never asserts)."""

from __future__ import annotations

import argparse

from engine.cli.common import RegistryNames, add_device, add_json, add_model, emit
from engine.errors import VisualSearchError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("bench", help="measure speed (prints figures; never asserts)")
    p.add_argument(
        "what",
        choices=[
            "extract",
            "index",
            "rescan",
            "search",
            "local",
            "quality",
            "train",
            "localize",
            "ablation",
            "unchanged",
            "batching",
            "faiss",
            "generated",
        ],
    )
    p.add_argument("--n", type=int, nargs="+", help="search/rescan: library sizes")
    p.add_argument("--dim", type=int, default=512, help="search: vector dimension")
    p.add_argument("--photos", default=None, help="local: a folder of real photos")
    p.add_argument("--gnd", default=None, help="quality: gnd_*.pkl of an evaluation set")
    p.add_argument("--images", default=None, help="quality: its photos")
    p.add_argument(
        "--count", type=int, default=None, help="index: photos per size (40); unchanged: (300)"
    )
    p.add_argument("--mixed", action="store_true", help="index: folders of mixed aspect")
    p.add_argument(
        "--batch-sizes", type=int, nargs="+", default=(), help="extract: forward batch sizes"
    )
    p.add_argument(
        "--small", action="store_true", help="faiss, generated: a quick run (seconds on a CPU)"
    )
    p.add_argument("--limit", type=int, default=None, help="batching: first N database photos")
    add_model(p, "index: model (default: default)")
    p.add_argument("--models", nargs="+", help="extract: architectures (default: all)")
    p.add_argument("--backbone", default="resnet50")
    p.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        default=None,
        help="image sizes (extract: 512 1024, train: 224 512)",
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compile", action="store_true", help="wrap models in torch.compile")
    p.add_argument("--no-channels-last", action="store_true")
    add_json(p)
    add_device(p)
    return p


def run(args: argparse.Namespace) -> int:
    from engine import bench

    log = None if args.json else print
    if args.what == "search":
        sizes = args.n or [10_000, 100_000, 1_000_000]
        rows = bench.bench_search(sizes=sizes, dim=args.dim, log=log)
    elif args.what == "rescan":
        rows = bench.bench_rescan(n=(args.n or [100_000])[0], log=log)
    elif args.what == "quality":
        if not (args.gnd and args.images):
            raise VisualSearchError("bench quality needs --gnd FILE --images DIR")
        rows = bench.bench_quality(args.gnd, args.images, model=args.model or "default", log=log)
    elif args.what == "local":
        if not args.photos:
            raise VisualSearchError("bench local needs --photos DIR (real photos)")
        sizes = tuple(args.n or (10_000, 100_000))
        rows = bench.bench_local(args.photos, sizes, model=args.model or "default", log=log)
    elif args.what == "ablation":
        rows = bench.bench_ablation(log=log)
    elif args.what == "localize":
        rows = bench.bench_localize(
            size=(args.sizes or [1024])[0], backbone=args.backbone, device=args.device, log=log
        )
    elif args.what == "train":
        rows = bench.bench_train(
            sizes=tuple(args.sizes or (224, 512)),
            backbone=args.backbone,
            device=args.device,
            log=log,
        )
    elif args.what == "index":
        rows = bench.bench_index(
            count=args.count or 40, model=args.model or "default", mixed=args.mixed, log=log
        )
    elif args.what == "unchanged":
        rows = bench.bench_unchanged(count=args.count or 300, log=log)
    elif args.what == "batching":
        if not (args.gnd and args.images):
            raise VisualSearchError("bench batching needs --gnd FILE --images DIR")
        rows = bench.bench_batching(
            args.gnd, args.images, model=args.model or "default", limit=args.limit, log=log
        )
    elif args.what == "faiss":
        rows = bench.bench_faiss_gpu(small=args.small, with_torch=True, log=log)
    elif args.what == "generated":
        rows = bench.bench_generated(
            methods=tuple(args.models or ("gem",)),
            size=(args.sizes or [224])[0],
            backbone=args.backbone,
            device=args.device,
            small=args.small,
            log=log,
        )
    else:
        rows = bench.bench_extract(
            models=args.models or list(RegistryNames()),
            backbone=args.backbone,
            sizes=args.sizes or [512, 1024],
            repeats=args.repeats,
            device=args.device,
            precision=args.precision,
            compile=args.compile,
            channels_last=not args.no_channels_last,
            batch_sizes=tuple(args.batch_sizes),
            log=log,
        )
    if args.json:
        emit(args, rows, "")
    return 0
