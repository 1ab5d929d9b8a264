"""``visual-search bench``: measure speed (prints figures; never asserts)."""

from __future__ import annotations

import argparse

from engine.bench.duplicates import bench_from_args as _duplicates
from engine.cli.common import RegistryNames, add_device, add_json, add_model, emit
from engine.errors import VisualSearchError


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("bench", help="measure speed (prints figures; never asserts)")
    p.add_argument("what", choices=list(_BENCHES))
    p.add_argument("--n", type=int, nargs="+", help="search/rescan: library sizes")
    p.add_argument("--dim", type=int, default=512, help="search: vector dimension")
    p.add_argument("--photos", default=None, help="local: a folder of real photos")
    p.add_argument("--gnd", default=None, help="quality: gnd_*.pkl of an evaluation set")
    p.add_argument("--images", default=None, help="quality: its photos")
    p.add_argument("--manifest", default=None, help="localize, duplicates: the set's manifest.json")
    p.add_argument(
        "--keep-library",
        default=None,
        metavar="DIR",
        help="duplicates: index into DIR and keep it (a second run only updates it)",
    )
    p.add_argument(
        "--count", type=int, default=None, help="index: photos per size (40); unchanged: (300)"
    )
    p.add_argument("--mixed", action="store_true", help="index: folders of mixed aspect")
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="index: where the time goes, on the real photos of --photos DIR",
    )
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
        help="image sizes (extract: 512 1024, train: 224 512, context: 1024, "
        "settings: 1024 800 640)",
    )
    p.add_argument(
        "--features", type=int, nargs="+", default=None, help="settings: features kept (1000)"
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compile", action="store_true", help="wrap models in torch.compile")
    p.add_argument("--no-channels-last", action="store_true")
    add_json(p)
    add_device(p)
    return p


def _needs(args: argparse.Namespace, message: str, *options: str) -> None:
    """Refuse the bench when one of the ``options`` it needs was not given."""
    if not all(getattr(args, o) for o in options):
        raise VisualSearchError(message)


def _search(bench, args, log):
    return bench.bench_search(sizes=args.n or [10_000, 100_000, 1_000_000], dim=args.dim, log=log)


def _rescan(bench, args, log):
    return bench.bench_rescan(n=(args.n or [100_000])[0], log=log)


def _quality(bench, args, log):
    _needs(args, "bench quality needs --gnd FILE --images DIR", "gnd", "images")
    return bench.bench_quality(args.gnd, args.images, model=args.model or "default", log=log)


def _settings(bench, args, log):
    _needs(args, "bench settings needs --gnd FILE --images DIR", "gnd", "images")
    return bench.bench_settings(
        args.gnd,
        args.images,
        sides=tuple(args.sizes or (1024, 800, 640)),
        features=tuple(args.features or (1000,)),
        log=log,
    )


def _memory(bench, args, log):
    _needs(args, "bench memory needs --photos DIR", "photos")
    return bench.bench_memory(args.photos, sizes=tuple(args.n or (100_000,)), log=log)


def _local(bench, args, log):
    _needs(args, "bench local needs --photos DIR (real photos)", "photos")
    sizes = tuple(args.n or (10_000, 100_000))
    return bench.bench_local(args.photos, sizes, model=args.model or "default", log=log)


def _ablation(bench, args, log):
    return bench.bench_ablation(log=log)


def _localize(bench, args, log):
    _needs(
        args,
        "bench localize needs --manifest FILE (scripts/make_localize_benchmark.py)",
        "manifest",
    )
    return bench.bench_localize(args.manifest, model=args.model, device=args.device, log=log)


def _context(bench, args, log):
    return bench.bench_context(
        size=(args.sizes or [1024])[0], backbone=args.backbone, device=args.device, log=log
    )


def _train(bench, args, log):
    return bench.bench_train(
        sizes=tuple(args.sizes or (224, 512)), backbone=args.backbone, device=args.device, log=log
    )


def _index(bench, args, log):
    if args.breakdown:
        _needs(args, "bench index --breakdown needs --photos DIR", "photos")
        return bench.bench_index_breakdown(args.photos, count=args.count, log=log)
    return bench.bench_index(
        count=args.count or 40, model=args.model or "default", mixed=args.mixed, log=log
    )


def _unchanged(bench, args, log):
    return bench.bench_unchanged(count=args.count or 300, log=log)


def _batching(bench, args, log):
    _needs(args, "bench batching needs --gnd FILE --images DIR", "gnd", "images")
    return bench.bench_batching(
        args.gnd, args.images, model=args.model or "default", limit=args.limit, log=log
    )


def _faiss(bench, args, log):
    return bench.bench_faiss_gpu(small=args.small, with_torch=True, log=log)


def _generated(bench, args, log):
    return bench.bench_generated(
        methods=tuple(args.models or ("gem",)),
        size=(args.sizes or [224])[0],
        backbone=args.backbone,
        device=args.device,
        small=args.small,
        log=log,
    )


def _extract(bench, args, log):
    return bench.bench_extract(
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


def _onnx(bench, args, log):
    _needs(args, "bench onnx needs --photos DIR (real photos)", "photos")
    return bench.bench_onnx(args.photos, n=(args.n or [20])[0], log=log)


#: bench name → ``(engine.bench, args, log) → rows``, in the order ``--help`` lists them
_BENCHES = {
    "extract": _extract,
    "index": _index,
    "rescan": _rescan,
    "search": _search,
    "local": _local,
    "memory": _memory,
    "quality": _quality,
    "settings": _settings,
    "train": _train,
    "localize": _localize,
    "context": _context,
    "ablation": _ablation,
    "unchanged": _unchanged,
    "batching": _batching,
    "faiss": _faiss,
    "generated": _generated,
    "onnx": _onnx,
    "duplicates": _duplicates,
}


def run(args: argparse.Namespace) -> int:
    from engine import bench

    rows = _BENCHES[args.what](bench, args, None if args.json else print)
    if args.json:
        emit(args, rows, "")
    return 0
