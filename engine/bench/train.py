"""``bench train`` and ``bench ablation``: training speed, and what each spatial-context
switch is worth on generated data."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..extract import Extractor
from ..runtime import resolve_device
from .common import CONTEXT_VARIANTS


def bench_train(
    methods: tuple[str, ...] | None = None,  # None: every registered architecture
    sizes: tuple[int, ...] = (224, 512),
    backbone: str = "resnet50",
    batch_size: int = 8,
    steps: int = 6,
    device: str = "auto",
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Training images/s per method and image size (first step, which warms up, excluded)."""
    from ..generator import write_training_set
    from ..models import list_models
    from ..training.config import LabelledConfig, TrainConfig
    from ..training.data import FolderDataset
    from ..training.trainer import Trainer

    root = Path(tempfile.mkdtemp(prefix="vs-bench-train-"))
    per_class = max(2, (batch_size * (steps + 1)) // 8 + 1)
    write_training_set(root / "data", classes=8, per_class=per_class, size=(640, 480))
    data = FolderDataset(root / "data")
    rows = []
    for size in sizes:
        for method in methods or list_models():
            times: list[float] = []
            last = [time.perf_counter()]

            def progress(done, total, message, times=times, last=last):
                now = time.perf_counter()
                times.append(now - last[0])
                last[0] = now

            cfg = TrainConfig(
                method=method,
                backbone=backbone,
                epochs=1,
                image_size=size,
                batch_size=batch_size,
                workers=2,
                pretrained="none",
                labelled=LabelledConfig(val_fraction=0.0),
                device=device,
            )
            tr = Trainer(cfg, data, root / f"out-{method}-{size}")
            last[0] = time.perf_counter()
            tr.run(progress=progress, should_stop=lambda times=times: len(times) >= steps)
            per_step = statistics.median(times[1:]) if len(times) > 1 else float("nan")
            row = {
                "method": method,
                "backbone": backbone,
                "size": size,
                "batch_size": batch_size,
                "images_per_s": round(batch_size / per_step, 2),
                "device": str(resolve_device(device)),
                "amp": resolve_device(device).type == "cuda",
            }
            rows.append(row)
            if log:
                log(
                    f"{size}px {method:<6} {backbone}: {row['images_per_s']:.2f} images/s "
                    f"(batch {batch_size}, {row['device']}{', bf16 AMP' if row['amp'] else ''})"
                )
    return rows


def bench_ablation(
    method: str = "cider",
    classes: int = 60,
    per_class: int = 6,
    epochs: int = 6,
    image_size: int = 128,
    backbone: str = "resnet18",
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Train the same model with and without each spatial-context switch on generated data
    and evaluate on unseen objects (Revisited-Oxford protocol, percent mAP)."""
    from ..evaluation.runner import evaluate_revisitop
    from ..generator import write_eval_set, write_training_set
    from ..training.config import LabelledConfig, TrainConfig
    from ..training.data import FolderDataset
    from ..training.trainer import Trainer, load_trained_model

    root = Path(tempfile.mkdtemp(prefix="vs-ablation-"))
    write_training_set(
        root / "train", classes=classes, per_class=per_class, size=(160, 120), seed=1
    )
    ev = write_eval_set(
        root / "eval", queries=12, positives=6, distractors=40, size=(160, 120), seed=2
    )
    data = FolderDataset(root / "train")
    rows = []
    for name, params in CONTEXT_VARIANTS:
        cfg = TrainConfig(
            method=method,
            backbone=backbone,
            epochs=epochs,
            image_size=image_size,
            batch_size=16,
            lr=0.1,
            workers=0,
            pretrained="none",
            labelled=LabelledConfig(arcface_margin=0.1, arcface_scale=16, val_fraction=0.0),
            arch_params=params,
        )
        t = time.perf_counter()
        Trainer(cfg, data, root / name).run()
        seconds = time.perf_counter() - t
        ex = Extractor(load_trained_model(root / name), device="cpu", precision="fp32")
        res = evaluate_revisitop(ex, ev["gnd"], ev["images"], pipeline="global")
        row = {"variant": name, "train_s": round(seconds, 1), **{p: res[p]["mAP"] for p in "EMH"}}
        rows.append(row)
        if log:
            log(
                f"{method} {name:<9} E {row['E']:6.2f}  M {row['M']:6.2f}  H {row['H']:6.2f}"
                f"  (trained {row['train_s']} s)"
            )
    return rows
