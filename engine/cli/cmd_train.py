"""``visual-search train``: train a retrieval model on labelled or generated photos."""

from __future__ import annotations

import argparse
import sys

from .common import RegistryNames, TerminalProgress, add_device, add_json, add_pretrained, emit


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a model on labelled photos")
    p.add_argument(
        "data",
        help="folder with one sub-folder per class, a GLDv2 CSV, or 'synthetic' (objects "
        "generated on the fly, trained by instance discrimination)",
    )
    p.add_argument("--images", default=None, help="GLDv2: image root (a/b/c/<id>.jpg)")
    p.add_argument(
        "--exclude-classes",
        default=None,
        metavar="FILE",
        help="class ids to leave out, one per line",
    )
    method = p.add_argument("--method", default="cider")
    method.choices = RegistryNames()  # after add_argument, which would import the models now
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--image-size", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument(
        "--margin",
        type=float,
        default=None,
        help="ArcFace margin (default: the architecture's, listed by `models --json`)",
    )
    p.add_argument("--scale", type=float, default=30.0, help="ArcFace scale")
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adamw"])
    p.add_argument("--weight-decay", type=float, default=1e-5)
    syn = p.add_argument_group("synthetic data")
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
    from ..training.batches import Augment
    from ..training.config import GeneratedConfig, LabelledConfig, TrainConfig
    from ..training.data import open_dataset
    from ..training.trainer import Trainer

    if args.data == "synthetic":
        from ..training.generated import GeneratedData

        data = GeneratedData()
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
        ),
    )
    if args.no_augment:
        cfg.labelled.augment = Augment(random_resized_crop=False, hflip=False, color_jitter=0.0)
    bar = TerminalProgress(not args.json)

    def on_record(rec: dict) -> None:
        if rec["kind"] == "epoch" and not args.json:
            bar.close()
            print(
                f"epoch {rec['epoch'] + 1}: loss {rec['loss']:.4f}, accuracy "
                f"{rec['accuracy']:.3f}, validation accuracy {rec['val_accuracy']:.3f}",
                file=sys.stderr,
            )

    res = Trainer(cfg, data, args.out).run(progress=bar, resume=args.resume, on_record=on_record)
    obj = {
        "out": str(res.out),
        "model": str(res.out / "model"),
        "epochs": res.epochs_done,
        "history": res.history,
        "data": report,
    }
    emit(args, obj, f"model written to {res.out / 'model'}")
    return 0
