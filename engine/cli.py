"""``visual-search`` command line. The GUI and the CLI call the same engine functions."""

from __future__ import annotations

import argparse
import json
import math
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


def _json_safe(obj):
    """NaN and infinities are not JSON: they become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _emit(args: argparse.Namespace, obj, text: str) -> None:
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only the first process speaks
        return
    if getattr(args, "json", False):
        json.dump(_json_safe(obj), sys.stdout, allow_nan=False)
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
    from . import bench

    log = None if args.json else print
    if args.what == "search":
        sizes = args.n or [10_000, 100_000, 1_000_000]
        rows = bench.bench_search(sizes=sizes, dim=args.dim, log=log)
    elif args.what == "rescan":
        rows = bench.bench_rescan(n=(args.n or [100_000])[0], log=log)
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
        rows = bench.bench_index(count=args.count, model=args.model or "default", log=log)
    else:
        rows = bench.bench_extract(
            models=args.models,
            backbone=args.backbone,
            sizes=args.sizes or [512, 1024],
            repeats=args.repeats,
            device=args.device,
            precision=args.precision,
            compile=args.compile,
            channels_last=not args.no_channels_last,
            log=log,
        )
    if args.json:
        _emit(args, rows, "")
    return 0


def _library(args: argparse.Namespace):
    from .library import Library

    return Library(args.library, device=getattr(args, "device", "auto"))


class _TerminalProgress:
    """A one-line progress bar on stderr when it is a terminal (silent otherwise)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int, message: str) -> None:
        if not self.enabled or (time.monotonic() - self._last < 0.1 and done != total):
            return
        self._last = time.monotonic()
        if total:
            width = 30
            filled = int(width * done / total)
            bar = "#" * filled + "-" * (width - filled)
            line = f"[{bar}] {done}/{total} {message}"
        else:
            line = message
        sys.stderr.write("\r" + line[:120].ljust(120))
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def cmd_index(args: argparse.Namespace) -> int:
    lib = _library(args)
    bar = _TerminalProgress(not args.json)
    try:
        while True:
            try:
                summary = lib.index(args.paths, model=args.model, progress=bar)
            finally:
                bar.close()
            d = summary.to_dict()
            problems = d.pop("problems")
            d.pop("cancelled")
            text = (
                f"indexed {d['indexed']}, unchanged {d['skipped_unchanged']}, moved "
                f"{d['moved']}, removed {d['removed']}, failed {d['failed']} "
                f"in {d['seconds']:.1f} s"
            )
            if problems:
                text += "\n" + "\n".join(f"  note: {p}" for p in problems)
                d["problems"] = problems
            if d["failed"]:
                text += "\n  (see `visual-search errors` for the reasons)"
            _emit(args, d, text)
            if not args.watch:
                return 0
            sys.stdout.flush()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        if args.watch:
            return 0
        raise
    finally:
        lib.close()


def cmd_search(args: argparse.Namespace) -> int:
    lib = _library(args)
    try:
        try:
            res = lib.search(
                args.image,
                box=args.bbox,
                k=args.k,
                folder=args.folder,
                model=args.model,
                rerank=args.rerank,
            )
        except BadImageError as e:
            raise BadImageError(f"{os.fsdecode(args.image)}: {e}") from None
        lines = [
            f"{i + 1:>3}. {h.score:.4f}  {h.path}"
            + (f"  ({h.inliers} inliers)" if h.inliers is not None else "")
            for i, h in enumerate(res.hits)
        ]
        if not lines:
            lines = ["no results (is the library indexed? see `visual-search status`)"]
        _emit(args, res.to_dict(), "\n".join(lines))
        return 0
    finally:
        lib.close()


def cmd_status(args: argparse.Namespace) -> int:
    lib = _library(args)
    try:
        st = lib.status()
    finally:
        lib.close()
    lines = [f"library: {st['library']}"]
    f = st["files"]
    lines.append(f"photos: {f['indexed']} indexed, {f['pending']} pending, {f['failed']} failed")
    for fo in st["folders"]:
        gone = "" if fo["exists"] else "  (folder missing)"
        lines.append(
            f"  {fo['path']}: {fo['indexed']} indexed, {fo['pending']} pending, "
            f"{fo['failed']} failed{gone}"
        )
    for m in st["models"]:
        lines.append(
            f"model {m['spec']} ({m['architecture']}/{m['backbone']}, {m['dim']} dims, "
            f"{m['fingerprint']}): {m['vectors']} vectors, index "
            f"{m['index'] or 'not built'}{'' if m['index_current'] else ' (stale)'}"
        )
    b = st["bytes"]
    lines.append(f"size: database {b['database'] / 1e6:.1f} MB, index {b['index'] / 1e6:.1f} MB")
    _emit(args, st, "\n".join(lines))
    return 0


def cmd_errors(args: argparse.Namespace) -> int:
    lib = _library(args)
    try:
        rows = lib.errors()
    finally:
        lib.close()
    obj = [{"path": r.display_path, "reason": r.error} for r in rows]
    text = "\n".join(f"{o['path']}: {o['reason']}" for o in obj) or "no failed photos"
    _emit(args, obj, text)
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    lib = _library(args)
    try:
        folders, files = lib.forget(args.path)
    finally:
        lib.close()
    if not folders and not files:
        raise VisualSearchError(f"{args.path}: not in the library")
    _emit(
        args,
        {"folders": folders, "files": files},
        f"forgot {folders} folder(s) and {files} photo(s); the files on disk are untouched",
    )
    return 0


def cmd_duplicates(args: argparse.Namespace) -> int:
    lib = _library(args)
    try:
        groups = lib.duplicates(threshold=args.threshold, model=args.model)
    finally:
        lib.close()
    obj = {
        "threshold": args.threshold,
        "groups": [[{"path": h.path, "score": round(h.score, 6)} for h in g] for g in groups],
    }
    lines = []
    for i, g in enumerate(groups):
        lines.append(f"group {i + 1} ({len(g)} photos):")
        lines += [f"  {h.path}" for h in g]
    _emit(args, obj, "\n".join(lines) or "no near-duplicates")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from . import synth

    size = tuple(args.size)
    if args.what == "train":
        info = synth.write_training_set(
            args.out, classes=args.classes, per_class=args.per_class, size=size, seed=args.seed
        )
        text = f"wrote {info['images']} photos of {info['classes']} objects to {args.out}"
    elif args.what == "eval":
        info = synth.write_eval_set(
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
        paths = synth.write_sample_photos(
            args.out, identities=args.classes, views=args.per_class, size=size
        )
        info = {"photos": len(paths), "out": str(args.out)}
        text = f"wrote {len(paths)} photos to {args.out}"
    _emit(args, info, text)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .training.data import Augment, open_dataset
    from .training.trainer import TrainConfig, Trainer

    if args.data == "synthetic":
        from .training.synthetic import SyntheticData

        data = SyntheticData()
    else:
        data = open_dataset(args.data, images=args.images, exclude_file=args.exclude_classes)
    report = data.report.lines()
    if not args.json:
        for line in report:
            print(f"data: {line}", file=sys.stderr)
    cfg = TrainConfig(
        method=args.method,
        backbone=args.backbone,
        epochs=args.epochs,
        image_size=args.image_size,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        seed=args.seed,
        workers=args.workers,
        cider_ft=args.cider_ft,
        pretrained=args.pretrained,
        arcface_margin=args.margin,
        arcface_scale=args.scale,
        checkpoint_minutes=args.checkpoint_minutes,
        warmup_epochs=args.warmup_epochs,
        val_fraction=args.val_fraction,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        steps_per_epoch=args.steps_per_epoch,
        views=args.views,
        curriculum=args.curriculum,
        temperature=args.temperature,
    )
    if args.no_augment:
        cfg.augment = Augment(random_resized_crop=False, hflip=False, color_jitter=0.0)
    bar = _TerminalProgress(not args.json)

    def progress(ev: dict) -> None:
        if ev["kind"] == "step":
            bar(
                ev["step"] + 1,
                ev["steps"],
                f"epoch {ev['epoch'] + 1}/{cfg.epochs} loss {ev['loss']:.3f} "
                f"acc {ev['accuracy']:.2f} lr {ev['lr']:.4f} {ev['images_per_s']:.1f} img/s "
                f"ETA {int(ev['eta_s'])}s",
            )
        elif ev["kind"] == "epoch" and not args.json:
            bar.close()
            print(
                f"epoch {ev['epoch'] + 1}: loss {ev['loss']:.4f}, accuracy "
                f"{ev['accuracy']:.3f}, validation accuracy {ev['val_accuracy']:.3f}",
                file=sys.stderr,
            )

    res = Trainer(cfg, data, args.out).run(progress=progress, resume=args.resume)
    obj = {
        "out": str(res.out),
        "model": str(res.out / "model"),
        "epochs": res.epochs_done,
        "history": res.history,
        "data": report,
    }
    _emit(args, obj, f"model written to {res.out / 'model'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import dataclasses

    from .checkpoint import load_checkpoint, save_checkpoint

    model = load_checkpoint(args.src)
    if args.image_size:
        model.config = dataclasses.replace(model.config, image_size=args.image_size).resolved()
    from pathlib import Path

    extra = json.loads((Path(args.src) / "config.json").read_text()).get("extra")
    out = save_checkpoint(model, args.dst, extra=extra, half=args.half)
    size = sum(f.stat().st_size for f in out.iterdir())
    _emit(
        args,
        {"out": str(out), "bytes": size, "half": args.half},
        f"{out}: {size / 1e6:.1f} MB",
    )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .checkpoint import resolve_model
    from .evaluation.runner import evaluate_folder_set, evaluate_revisitop
    from .extract import Extractor

    ex = Extractor(
        resolve_model(args.model, pretrained=args.pretrained),
        device=args.device,
        precision=args.precision,
        image_size=args.image_size,
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
    _emit(args, res, text)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from .audit import audit
    from .checkpoint import resolve_model
    from .extract import Extractor
    from .training.data import open_dataset

    ex = Extractor(resolve_model(args.model), device=args.device, precision=args.precision)
    train = open_dataset(args.train, images=args.images)
    rep = audit(ex, train, args.eval, shortlist=args.shortlist, min_inliers=args.min_inliers)
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
    _emit(args, d, "\n".join(lines))
    return 0


def _point(text: str) -> tuple[float, float]:
    parts = text.replace(" ", "").split(",")
    try:
        x, y = (float(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError("expected X,Y") from None
    return x, y


def cmd_localize(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .checkpoint import resolve_model
    from .extract import Extractor
    from .imageio import load_photo
    from .localize import Localizer, draw_overlay, heatmap

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
            photo = load_photo(r, max_side=None).image
            att = ex.extract_one(r).attention
            img = draw_overlay(photo, heatmap(att, photo.size), found.box)
            img.save(out_dir / f"{Path(r).stem}.png")
    if out_dir:
        q = load_photo(args.query, max_side=None).image
        att = ex.extract_one(args.query).attention
        draw_overlay(q, heatmap(att, q.size), None, point=args.point).save(
            out_dir / f"query_{Path(args.query).stem}.png"
        )
    obj = {
        "query": args.query,
        "point": list(args.point) if args.point else None,
        "seed_patch": list(seed),
        "results": rows,
    }
    _emit(args, obj, "\n".join(lines))
    return 0 if any("box" in r for r in rows) or not rows else 1


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

    def library_opt(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--library",
            default=None,
            metavar="DIR",
            help="library directory (default: the user data dir, or $VISUAL_SEARCH_HOME/library)",
        )

    model_help = (
        "checkpoint directory, architecture name (gem, cider, ugalr; optionally "
        "NAME:BACKBONE) or 'default' (default: the library's current model)"
    )

    sp = sub.add_parser("index", help="add folders to the library and index what changed")
    sp.add_argument("paths", nargs="+", metavar="PATH", help="photo folders")
    library_opt(sp)
    sp.add_argument("--model", default=None, help=model_help)
    sp.add_argument(
        "--watch", action="store_true", help="keep running and re-scan every --interval seconds"
    )
    sp.add_argument("--interval", type=float, default=60.0)
    sp.add_argument("--json", action="store_true", help="print a JSON summary")
    device_opts(sp)
    sp.set_defaults(func=cmd_index)

    sp = sub.add_parser("search", help="rank library photos by similarity to a query photo")
    sp.add_argument("image", help="query photo")
    sp.add_argument(
        "--bbox",
        type=_bbox,
        default=None,
        metavar="X0,Y0,X1,Y1",
        help="search for this region of the query",
    )
    sp.add_argument("-k", type=int, default=20, help="number of results (default 20)")
    sp.add_argument("--folder", default=None, help="only results inside this folder")
    sp.add_argument(
        "--rerank",
        type=int,
        default=0,
        metavar="K",
        help="re-rank the top K by geometric verification (local features)",
    )
    sp.add_argument("--model", default=None, help=model_help)
    library_opt(sp)
    sp.add_argument("--json", action="store_true")
    device_opts(sp)
    sp.set_defaults(func=cmd_search)

    sp = sub.add_parser("status", help="folders, counts, models and index of the library")
    library_opt(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_status)

    sp = sub.add_parser("errors", help="photos that could not be indexed, with the reason")
    library_opt(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_errors)

    sp = sub.add_parser("forget", help="remove a folder from the library (files stay on disk)")
    sp.add_argument("path")
    library_opt(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_forget)

    sp = sub.add_parser("duplicates", help="groups of near-duplicate photos")
    sp.add_argument(
        "--threshold",
        type=float,
        default=0.95,
        help="cosine similarity for a pair to count (default 0.95)",
    )
    sp.add_argument("--model", default=None, help=model_help)
    library_opt(sp)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_duplicates)

    sp = sub.add_parser("synth", help="generate photos of procedural objects in clutter")
    sp.add_argument("what", choices=["train", "eval", "photos"])
    sp.add_argument("--out", required=True)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--classes", type=int, default=50, help="train/photos: objects")
    sp.add_argument("--per-class", type=int, default=10, help="train/photos: photos each")
    sp.add_argument("--queries", type=int, default=20, help="eval: query objects")
    sp.add_argument("--positives", type=int, default=6, help="eval: photos per query object")
    sp.add_argument("--distractors", type=int, default=100, help="eval: other photos")
    sp.add_argument("--size", type=int, nargs=2, default=[320, 240], metavar=("W", "H"))
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_synth)

    sp = sub.add_parser("train", help="train a model on labelled photos")
    sp.add_argument(
        "data",
        help="folder with one sub-folder per class, a GLDv2 CSV, or 'synthetic' (objects "
        "generated on the fly, trained by instance discrimination)",
    )
    sp.add_argument("--images", default=None, help="GLDv2: image root (a/b/c/<id>.jpg)")
    sp.add_argument(
        "--exclude-classes",
        default=None,
        metavar="FILE",
        help="class ids to leave out, one per line",
    )
    sp.add_argument("--method", default="cider", choices=["gem", "cider", "ugalr"])
    sp.add_argument("--backbone", default="resnet50")
    sp.add_argument("--epochs", type=int, default=10)
    sp.add_argument("--image-size", type=int, default=512)
    sp.add_argument("--batch-size", type=int, default=32)
    sp.add_argument("--lr", type=float, default=0.01)
    sp.add_argument(
        "--margin",
        type=float,
        default=None,
        help="ArcFace margin (default: 0.3 for gem and cider, 0.15 for ugalr)",
    )
    sp.add_argument("--scale", type=float, default=30.0, help="ArcFace scale")
    sp.add_argument("--warmup-epochs", type=float, default=1.0)
    sp.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"])
    sp.add_argument("--weight-decay", type=float, default=1e-5)
    syn = sp.add_argument_group("synthetic data")
    syn.add_argument("--steps-per-epoch", type=int, default=100)
    syn.add_argument(
        "--views",
        type=int,
        default=4,
        help="photos of each object per batch (batch = objects × views)",
    )
    syn.add_argument(
        "--curriculum",
        type=float,
        default=0.5,
        help="fraction of training over which views go from object-filled to hard",
    )
    syn.add_argument("--temperature", type=float, default=0.1, help="contrastive temperature")
    sp.add_argument("--val-fraction", type=float, default=0.1)
    sp.add_argument("--no-augment", action="store_true", help="no crop, flip or colour jitter")
    sp.add_argument(
        "--checkpoint-minutes",
        type=float,
        default=10.0,
        help="also save a resumable state this often within an epoch",
    )
    sp.add_argument(
        "--cider-ft",
        action="store_true",
        help="two stages: backbone + classifier, then the head alone",
    )
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--workers", type=int, default=2, help="data loading processes")
    sp.add_argument("--pretrained", default="cache", choices=["none", "cache", "download"])
    sp.add_argument("--out", required=True, help="output directory")
    sp.add_argument("--resume", action="store_true", help="continue the run in --out")
    sp.add_argument("--json", action="store_true")
    device_opts(sp)
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("export", help="copy a checkpoint, in half precision or resized")
    sp.add_argument("src", help="checkpoint directory")
    sp.add_argument("dst", help="new checkpoint directory")
    sp.add_argument("--half", action="store_true", help="store weights as float16")
    sp.add_argument("--image-size", type=int, default=None, help="new default long side")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("evaluate", help="Revisited Oxford/Paris protocol, or leave-one-out mAP")
    sp.add_argument("--gnd", default=None, help="gnd_*.pkl ground truth")
    sp.add_argument("--images", default=None, help="folder with the photos the gnd names")
    sp.add_argument(
        "--classes",
        dest="classes_dir",
        default=None,
        help="folder-per-class set for leave-one-out mAP",
    )
    sp.add_argument("--model", default=None, help=model_help)
    sp.add_argument("--distractors", default=None, help="folder of extra database photos")
    sp.add_argument("--image-size", type=int, default=None, help="long side (default: the model's)")
    sp.add_argument("--pretrained", default="cache", choices=["none", "cache", "download"])
    sp.add_argument("--save-ranking", default=None, metavar="FILE")
    sp.add_argument(
        "--rerank",
        type=int,
        default=0,
        metavar="K",
        help="re-rank the top K by geometric verification",
    )
    sp.add_argument("--json", action="store_true")
    device_opts(sp)
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("audit", help="find training classes that overlap an evaluation set")
    sp.add_argument("--train", required=True, help="training set (folder or GLDv2 CSV)")
    sp.add_argument("--images", default=None, help="GLDv2: image root")
    sp.add_argument(
        "--eval",
        required=True,
        help="gnd_*.pkl (photos in jpg/ beside it) or a folder-per-class set",
    )
    sp.add_argument("--out", default=None, metavar="FILE", help="write the exclusion list")
    sp.add_argument(
        "--shortlist",
        type=int,
        default=50,
        help="training photos verified per query (by global similarity)",
    )
    sp.add_argument(
        "--min-inliers",
        type=int,
        default=20,
        help="RANSAC inliers for a pair to count as evidence (default 20)",
    )
    sp.add_argument("--model", default=None, help=model_help)
    sp.add_argument("--json", action="store_true")
    device_opts(sp)
    sp.set_defaults(func=cmd_audit)

    sp = sub.add_parser("localize", help="outline the clicked object of a query in other photos")
    sp.add_argument("query", help="query photo")
    sp.add_argument("results", nargs="+", metavar="RESULT", help="photos to find it in")
    sp.add_argument(
        "--point",
        type=_point,
        default=None,
        metavar="X,Y",
        help="the clicked point in the query (default: its salient object)",
    )
    sp.add_argument("--model", default=None, help=model_help)
    sp.add_argument(
        "--overlay",
        default=None,
        metavar="DIR",
        help="write PNGs with the heatmap and the outline drawn",
    )
    sp.add_argument("--json", action="store_true")
    device_opts(sp)
    sp.set_defaults(func=cmd_localize)

    sp = sub.add_parser("bench", help="measure speed (prints figures; never asserts)")
    sp.add_argument(
        "what", choices=["extract", "index", "rescan", "search", "train", "localize", "ablation"]
    )
    sp.add_argument("--n", type=int, nargs="+", help="search/rescan: library sizes")
    sp.add_argument("--dim", type=int, default=512, help="search: vector dimension")
    sp.add_argument("--count", type=int, default=40, help="index: photos per size")
    sp.add_argument("--model", default=None, help="index: model (default: default)")
    sp.add_argument("--models", nargs="+", default=["gem", "cider", "ugalr"])
    sp.add_argument("--backbone", default="resnet50")
    sp.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        default=None,
        help="image sizes (extract: 512 1024, train: 224 512)",
    )
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
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
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
