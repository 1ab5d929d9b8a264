"""``bench train`` and ``bench ablation``: training speed, and what each spatial-context
switch is worth on generated data; ``bench_generated`` and ``bench_generated_batches``: how
fast generated data trains and is made, with views made by the CPU renderer or on the
device (:mod:`engine.training.gpu_views`)."""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from engine.bench.common import CONTEXT_VARIANTS
from engine.cores import available_cores
from engine.network.extract import Extractor
from engine.network.runtime import resolve_device


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
    from engine.network.models import list_models
    from engine.training.config import LabelledConfig, TrainConfig
    from engine.training.data import FolderDataset
    from engine.training.generator import write_training_set
    from engine.training.trainer import Trainer

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
    from engine.evaluation.runner import evaluate_revisitop
    from engine.training.config import LabelledConfig, TrainConfig
    from engine.training.data import FolderDataset
    from engine.training.generator import write_eval_set, write_training_set
    from engine.training.trainer import Trainer, load_trained_model

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


def _gpu_busy_sampler(device) -> tuple[Callable[[], None], Callable[[], float | None]]:
    """``start()`` and ``stop() → mean GPU busy share (0..1)`` sampled every 0.1 s with
    ``torch.cuda.utilization`` (needs pynvml); ``None`` off CUDA or without it."""
    import torch

    samples: list[float] = []
    done = threading.Event()

    def read() -> float | None:
        try:
            return float(torch.cuda.utilization(device)) / 100.0
        except Exception:  # no pynvml, no NVML, not CUDA: report null, do not fail
            return None

    def loop() -> None:
        while not done.wait(0.1):
            v = read()
            if v is None:
                return
            samples.append(v)

    thread = threading.Thread(target=loop, daemon=True)
    usable = device.type == "cuda" and read() is not None

    def start() -> None:
        if usable and not thread.is_alive():
            thread.start()

    def stop() -> float | None:
        done.set()
        if thread.is_alive():
            thread.join()
        return round(statistics.fmean(samples), 3) if samples else None

    return start, stop


def bench_generated(
    methods: tuple[str, ...] = ("gem",),
    size: int = 224,
    backbone: str = "resnet50",
    identities: int = 16,
    views: int = 4,
    steps: int = 80,
    views_on: tuple[str, ...] = ("cpu", "device"),
    workers: int | None = None,
    device: str = "auto",
    small: bool = False,
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Training images/s on generated data (loader + views + train step) per method and
    place the views are made, with the GPU's busy share on CUDA (``None`` where
    ``torch.cuda.utilization`` cannot be read).

    Both are measured over the last half of ``steps`` (after the loader's first prefetched
    batches are used up when ``steps`` ≥ 4 × ``workers``). ``workers`` None: the CPU cores
    less two (at most 14). ``small``: a quick check (resnet18, 32 px, 2 identities × 2 views,
    2 steps, no workers) that runs in seconds on a CPU.
    """
    from engine.training.config import GeneratedConfig, TrainConfig
    from engine.training.generated import GeneratedData
    from engine.training.trainer import Trainer

    if small:
        backbone, size, identities, views, steps, workers = "resnet18", 32, 2, 2, 2, 0
    if workers is None:
        workers = max(0, min(14, available_cores() - 2))
    dev = resolve_device(device)
    batch = identities * views
    root = Path(tempfile.mkdtemp(prefix="vs-bench-generated-"))
    rows = []
    for method in methods:
        for where in views_on:
            ends: list[float] = []
            start_busy, stop_busy = _gpu_busy_sampler(dev)
            half = steps // 2

            def progress(done, total, message, ends=ends, start_busy=start_busy, half=half):
                ends.append(time.perf_counter())
                if len(ends) == max(1, half):
                    start_busy()

            cfg = TrainConfig(
                method=method,
                backbone=backbone,
                epochs=1,
                image_size=size,
                batch_size=batch,
                workers=workers,
                pretrained="none",
                device=device,
                generated=GeneratedConfig(steps_per_epoch=steps + 1, views=views, views_on=where),
            )
            tr = Trainer(cfg, GeneratedData(), root / f"out-{method}-{where}")
            tr.run(progress=progress, should_stop=lambda ends=ends: len(ends) >= steps)
            busy = stop_busy()
            first = ends[max(0, half - 1)] if len(ends) > 1 else float("nan")
            timed = len(ends) - 1 - max(0, half - 1)
            per_s = timed * batch / (ends[-1] - first) if timed > 0 else float("nan")
            row = {
                "method": method,
                "backbone": backbone,
                "size": size,
                "batch_size": batch,
                "views_on": where,
                "workers": workers,
                "images_per_s": round(per_s, 2),
                "gpu_busy": busy,
                "device": str(dev),
                "amp": dev.type == "cuda",
            }
            rows.append(row)
            if log:
                busy_text = "n/a" if busy is None else f"{100 * busy:.0f} %"
                log(
                    f"{size}px {method:<6} {backbone} views on {where:<6}: "
                    f"{row['images_per_s']:.1f} images/s, GPU busy {busy_text} "
                    f"(batch {batch}, {workers} workers, {row['device']})"
                )
    return rows


def bench_generated_batches(
    size: int = 224,
    identities: int = 16,
    views: int = 4,
    batches: int = 4,
    views_on: tuple[str, ...] = ("cpu", "device"),
    device: str = "auto",
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Images/s of making generated batches alone (no training), in this one process: the
    CPU renderer's, and the device path's CPU half (assets) and device half (views). The
    first batch, which warms up caches, is left out."""
    import torch

    from engine.training.generated import GeneratedBatches, GeneratedSpec

    dev = resolve_device(device)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    rows = []
    for where in views_on:
        spec = GeneratedSpec(
            identities=identities, views=views, image_size=size, ramp=0.5, views_on=where
        )
        ds = GeneratedBatches(spec, mean, std, seed=0, total_steps=2 * batches, device=dev)
        cpu_s = dev_s = 0.0
        for step in range(batches + 1):
            t0 = time.perf_counter()
            x, y, _ = ds[step]
            t1 = time.perf_counter()
            x, y = ds.to_device(x, y, dev)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t2 = time.perf_counter()
            if step:
                cpu_s, dev_s = cpu_s + t1 - t0, dev_s + t2 - t1
        n = batches * identities * views
        row = {
            "views_on": where,
            "size": f"{ds.size()[0]}x{ds.size()[1]}",
            "batch_size": identities * views,
            "images_per_s": round(n / (cpu_s + dev_s), 2),
            "cpu_s_per_batch": round(cpu_s / batches, 4),
            "device_s_per_batch": round(dev_s / batches, 4),
            "device": str(dev),
            "threads": torch.get_num_threads(),
        }
        rows.append(row)
        if log:
            log(
                f"{row['size']} views on {where:<6}: {row['images_per_s']:.1f} images/s "
                f"(per batch of {row['batch_size']}: {row['cpu_s_per_batch']:.3f} s loader, "
                f"{row['device_s_per_batch']:.3f} s {row['device']})"
            )
    return rows
