"""``visual-search train``: train a retrieval model on labelled or generated photos."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from engine.cli.common import (
    RegistryNames,
    TerminalProgress,
    add_device,
    add_json,
    add_library,
    add_pretrained,
    at_least,
    emit,
    open_library,
)

LABELLED_LR = 0.01


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train a model on labelled photos, generated objects, or the library's own "
        "verified matches (train library)",
    )
    p.add_argument(
        "data",
        help="folder with one sub-folder per class, a GLDv2 CSV, 'synthetic' (objects "
        "generated on the fly, trained by instance discrimination), or 'library' (pairs of "
        "photos the local features verify in your library: no labels needed)",
    )
    p.add_argument(
        "folders",
        nargs="*",
        help="train library: folders to index into the library first",
    )
    add_library(p)
    mined = p.add_argument_group("train library")
    mined.add_argument(
        "--loss",
        default="both",
        choices=["contrastive", "arcface", "both"],
        help="contrastive with hard negatives, ArcFace on the pseudo-classes, or both",
    )
    mined.add_argument(
        "--pair-margin", type=float, default=0.7, help="margin of the contrastive loss"
    )
    mined.add_argument(
        "--hold-out",
        type=float,
        default=0.2,
        help="share of the groups one photo of which is kept out of training to evaluate",
    )
    mined.add_argument(
        "--start-from",
        default=None,
        metavar="MODEL",
        help="model whose weights training starts from (default: the one the library serves)",
    )
    p.add_argument("--images", default=None, help="GLDv2: image root (a/b/c/<id>.jpg)")
    p.add_argument(
        "--exclude-classes",
        default=None,
        metavar="FILE",
        help="class ids to leave out, one per line",
    )
    method = p.add_argument("--method", default=None)
    method.choices = RegistryNames()  # after add_argument, which would import the models now
    p.add_argument("--backbone", default=None)
    p.add_argument("--epochs", type=at_least(1), default=10)
    p.add_argument("--image-size", type=at_least(32), default=None)
    p.add_argument("--batch-size", type=at_least(1), default=32)
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help=f"learning rate (default {LABELLED_LR}; 1e-4 for train library, which "
        "continues a trained model)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=None,
        help="ArcFace margin (default: the architecture's, listed by `models --json`)",
    )
    p.add_argument("--scale", type=float, default=30.0, help="ArcFace scale")
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument(
        "--optimizer",
        default=None,
        choices=["sgd", "adamw"],
        help="default sgd (the papers'); adamw for train library",
    )
    p.add_argument("--weight-decay", type=float, default=1e-5)
    syn = p.add_argument_group("synthetic data")
    syn.add_argument("--steps-per-epoch", type=at_least(1), default=100)
    syn.add_argument(
        "--views-on",
        default="auto",
        choices=["auto", "cpu", "device"],
        help="where each batch's views are made: device (batched in torch on the training "
        "device; auto picks it on CUDA) or cpu (the PIL renderer on loader workers)",
    )
    syn.add_argument(
        "--views",
        type=at_least(1),
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
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--no-augment", action="store_true", help="no crop, flip or colour jitter")
    p.add_argument(
        "--checkpoint-minutes",
        type=float,
        default=10.0,
        help="also save a resumable state this often within an epoch",
    )
    p.add_argument(
        "--cider-ft",
        action="store_true",
        help="two stages: backbone + classifier, then the head alone",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="data loading processes")
    add_pretrained(p)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    add_json(p)
    add_device(p)
    return p


def run(args: argparse.Namespace) -> int:
    from engine.errors import NeedsTorch
    from engine.network.loader import torch_available

    if not torch_available():
        raise NeedsTorch("training")
    from engine.training.batches import Augment
    from engine.training.data import open_dataset
    from engine.training.trainer import Trainer

    if args.data == "library":
        return _train_library(args)
    if args.folders:
        raise SystemExit(f"visual-search train: error: unexpected {args.folders[0]!r}")
    args.method = args.method or "cider"
    args.backbone = args.backbone or "resnet50"
    args.image_size = args.image_size or 512
    args.lr = args.lr or LABELLED_LR
    args.optimizer = args.optimizer or "sgd"
    if args.data == "synthetic":
        from engine.training.generated import GeneratedData

        data = GeneratedData()
    else:
        data = open_dataset(args.data, images=args.images, exclude_file=args.exclude_classes)
    report = data.report.lines()
    if not args.json:
        for line in report:
            print(f"data: {line}", file=sys.stderr)
    cfg = _config(args)
    if args.no_augment:
        cfg.labelled.augment = Augment(random_resized_crop=False, hflip=False, color_jitter=0.0)
    bar = TerminalProgress(not args.json)
    res = Trainer(cfg, data, args.out).run(
        progress=bar, resume=args.resume, on_record=_epoch_printer(args, bar)
    )
    obj = {
        "out": str(res.out),
        "model": str(res.out / "model"),
        "epochs": res.epochs_done,
        "history": res.history,
        "data": report,
    }
    emit(args, obj, f"model written to {res.out / 'model'}")
    return 0


def _config(args: argparse.Namespace, **fields):
    from engine.training.config import GeneratedConfig, LabelledConfig, MinedConfig, TrainConfig

    return TrainConfig(
        **fields,
        method=args.method,
        backbone=args.backbone,
        epochs=args.epochs,
        image_size=args.image_size,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        seed=args.seed,
        workers=args.workers,
        pretrained=args.pretrained,
        checkpoint_minutes=args.checkpoint_minutes,
        warmup_epochs=args.warmup_epochs,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        labelled=LabelledConfig(
            arcface_margin=args.margin,
            arcface_scale=args.scale,
            cider_ft=args.cider_ft,
            val_fraction=args.val_fraction,
        ),
        generated=GeneratedConfig(
            steps_per_epoch=args.steps_per_epoch,
            views=args.views,
            curriculum=args.curriculum,
            temperature=args.temperature,
            views_on=args.views_on,
        ),
        mined=MinedConfig(loss=args.loss, margin=args.pair_margin),
    )


def _epoch_printer(args: argparse.Namespace, bar: TerminalProgress):
    def on_record(rec: dict) -> None:
        if rec["kind"] == "epoch" and not args.json:
            bar.close()
            print(
                f"epoch {rec['epoch'] + 1}: loss {rec['loss']:.4f}, accuracy "
                f"{rec['accuracy']:.3f}, validation {rec['val_accuracy']:.3f}",
                file=sys.stderr,
            )

    return on_record


def _train_library(args: argparse.Namespace) -> int:
    """``train library``: mine verified matches, train on them, measure before and after."""
    from engine.library.improve.training import (
        LIBRARY_LR,
        LIBRARY_OPTIMIZER,
        improve_model,
        starting_config,
    )
    from engine.training.batches import Augment

    bar = TerminalProgress(not args.json)

    def on_mined(mined) -> None:
        if not args.json:
            bar.close()
            c = mined.counts
            print(
                f"mined: {c['pairs']} verified pairs with a change of view in "
                f"{c['photos_checked']} photos ({c['photos_with_a_positive']} photos have one), "
                f"{c['classes']} groups ({c['held_out_photos']} photos held out to evaluate), "
                f"{c['negatives']} hard negatives, {c['near_duplicate_pairs']} near-duplicate "
                f"pairs left out, in {c['seconds']} s",
                file=sys.stderr,
            )

    with open_library(args, mode="create" if args.folders else "write") as lib:
        spec = args.start_from or lib.model(None)[1].spec
        args.lr = args.lr or LIBRARY_LR
        args.optimizer = args.optimizer or LIBRARY_OPTIMIZER
        base = _config(args)
        own = ("method", "backbone", "image_size", "descriptor_dim", "arch_params", "init_from")
        overrides = {
            f.name: getattr(base, f.name) for f in dataclasses.fields(base) if f.name not in own
        }
        for name in ("method", "backbone", "image_size"):  # only when asked for
            overrides[name] = getattr(args, name)
        cfg = starting_config(spec, **overrides)
        if args.no_augment:
            cfg.labelled.augment = Augment(random_resized_crop=False, hflip=False, color_jitter=0.0)
        figures = improve_model(
            lib,
            args.out,
            cfg,
            folders=args.folders,
            resume=args.resume,
            progress=bar,
            on_record=_epoch_printer(args, bar),
            on_mined=on_mined,
            hold_out=args.hold_out,
            on_note=lambda note: print(f"visual-search: {note}", file=sys.stderr),
        )
    bar.close()
    before, after = figures["before"], figures.get("after")
    text = f"model written to {figures['model']}"
    if after is not None:
        text += (
            f"\nrecall@10 of held-out verified matches: {before['recall@10']:.3f} before, "
            f"{after['recall@10']:.3f} after ({after['queries']} query photos); use it with "
            f"--model {figures['model']}"
        )
    emit(args, figures, text)
    return 0
