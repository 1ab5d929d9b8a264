"""Speed measurements that print figures (never assertions): ``visual-search bench extract``."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .config import ModelConfig
from .extract import Extractor
from .models import create_model
from .models.backbones import ResNetBackbone
from .runtime import resolve_device
from .synth import render_scene


def _timeit(fn: Callable[[], object], repeats: int, warmup: int, sync: bool) -> float:
    """Median seconds of ``fn`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if sync:
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_extract(
    models: list[str],
    backbone: str = "resnet50",
    sizes: list[int] | tuple[int, ...] = (512, 1024),
    repeats: int = 3,
    device: str = "auto",
    precision: str = "auto",
    compile: bool = False,
    channels_last: bool = True,
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Per (size, model): forward ms on a pre-decoded input, the ratio to the bare backbone's
    forward on the same input, and end-to-end images/s (JPEG decode + every configured scale).
    """
    rows = []
    warmup = 2 if compile else 1
    tmp = Path(tempfile.mkdtemp(prefix="vs-bench-"))
    for size in sizes:
        scene, _ = render_scene([1], seed=1, size=(size, size * 3 // 4))
        photo = tmp / f"bench_{size}.jpg"
        scene.save(photo, quality=90)

        bare_cfg = ModelConfig(
            architecture="gem", backbone=backbone, image_size=size, pretrained="none"
        ).resolved()
        # the bare backbone runs under the same extractor settings as the models
        bare = Extractor(
            create_model(bare_cfg),
            device=device,
            precision=precision,
            compile=compile,
            channels_last=channels_last,
        )
        x = bare._normalise(bare.prepare(photo).pixels[None])
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        sync = bare.device.type == "cuda"
        bb = ResNetBackbone(backbone, pretrained="none").eval().to(bare.device)
        if channels_last:
            bb = bb.to(memory_format=torch.channels_last)
        bb_fwd = torch.compile(bb) if compile else bb

        def run_bb(bb_fwd=bb_fwd, x=x, ex=bare):
            with torch.inference_mode(), ex.precision.autocast(ex.device):
                return bb_fwd(x)

        t_bb = _timeit(run_bb, repeats, warmup, sync)
        if log:
            log(
                f"{size}px {backbone} bare backbone forward: {t_bb * 1e3:.1f} ms "
                f"({bare.device}, {bare.precision.name}, channels_last={channels_last}, "
                f"compile={compile})"
            )
        for name in models:
            cfg = ModelConfig(
                architecture=name, backbone=backbone, image_size=size, pretrained="none"
            ).resolved()
            ex = Extractor(
                create_model(cfg),
                device=device,
                precision=precision,
                compile=compile,
                channels_last=channels_last,
            )

            def run_fwd(ex=ex, x=x):
                with torch.inference_mode(), ex.precision.autocast(ex.device):
                    return ex._forward(x)

            t_fwd = _timeit(run_fwd, repeats, warmup, sync)
            t_ext = _timeit(lambda ex=ex, photo=photo: ex.extract_one(photo), repeats, warmup, sync)
            row = {
                "model": name,
                "backbone": backbone,
                "size": size,
                "device": str(ex.device),
                "precision": ex.precision.name,
                "channels_last": channels_last,
                "compile": compile,
                "scales": list(ex.scales),
                "backbone_forward_ms": round(t_bb * 1e3, 2),
                "forward_ms": round(t_fwd * 1e3, 2),
                "head_overhead_ratio": round(t_fwd / t_bb, 3),
                "extract_images_per_s": round(1.0 / t_ext, 3),
            }
            rows.append(row)
            if log:
                log(
                    f"  {name:<6} forward {row['forward_ms']:8.1f} ms  "
                    f"x{row['head_overhead_ratio']:.2f} of backbone  |  extract "
                    f"({len(ex.scales)} scale{'s' if len(ex.scales) > 1 else ''}, with decode) "
                    f"{row['extract_images_per_s']:.2f} images/s"
                )
    return rows


# --------------------------------------------------------------------------- library


def clustered_unit_vectors(n: int, d: int, clusters: int, seed: int = 0) -> np.ndarray:
    """``(n, d) float32`` unit vectors around random centres (descriptors of photo
    collections cluster; uniform random vectors would make every index look bad)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    out = np.empty((n, d), np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        x = centres[rng.integers(0, clusters, m)]
        x += 0.35 * rng.standard_normal((m, d)).astype(np.float32)
        out[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def bench_search(
    sizes: list[int] | tuple[int, ...] = (10_000, 100_000, 1_000_000),
    dim: int = 512,
    queries: int = 200,
    kinds: tuple[str, ...] = ("flat", "hnsw"),
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Warm single-query latency (p50/p95 ms) and recall@10 of each index kind vs exact."""
    from .library.vectors import VectorIndex

    rows = []
    for n in sizes:
        x = clustered_unit_vectors(n + queries, dim, max(10, n // 100))
        xb, xq = x[:n], x[n:]
        ids = np.arange(n, dtype=np.int64)
        truth = None
        for kind in kinds:
            vi = VectorIndex.empty(dim, kind)
            t = time.perf_counter()
            vi.add(ids, xb)
            build = time.perf_counter() - t
            vi.search(xq[:5], 10)  # warm
            lat, found = [], []
            for q in xq:
                t = time.perf_counter()
                _, I = vi.search(q[None], 10)
                lat.append(time.perf_counter() - t)
                found.append(I[0])
            found = np.array(found)
            if kind == "flat":
                truth = found
            recall = (
                float(
                    np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
                )
                if truth is not None
                else float("nan")
            )
            row = {
                "n": n,
                "dim": dim,
                "kind": kind,
                "build_s": round(build, 2),
                "p50_ms": round(1e3 * float(np.percentile(lat, 50)), 3),
                "p95_ms": round(1e3 * float(np.percentile(lat, 95)), 3),
                "recall@10": round(recall, 4),
                "index_bytes_per_vector": round(_index_bytes(vi) / n, 1),
            }
            rows.append(row)
            if log:
                log(
                    f"{n:>9,} x {dim} {kind:<5} build {row['build_s']:7.2f} s  "
                    f"p50 {row['p50_ms']:8.3f} ms  p95 {row['p95_ms']:8.3f} ms  "
                    f"recall@10 {row['recall@10']:.3f}  "
                    f"{row['index_bytes_per_vector']:.0f} B/vector"
                )
            del vi
    return rows


def _index_bytes(vi) -> int:
    import faiss

    return int(faiss.serialize_index(vi.index).nbytes)


def bench_rescan(
    n: int = 100_000, log: Callable[[str], None] | None = print, keep: str | None = None
) -> dict:
    """Seconds to re-scan an unchanged library of ``n`` files (synthetic entries: tiny files on
    disk, rows and vectors written straight into the store)."""
    from sqlalchemy import insert

    from .library import Library
    from .library.store import OK, files_t, fs_bytes, vectors_t

    root = Path(keep or tempfile.mkdtemp(prefix="vs-rescan-"))
    photos = root / "photos"
    lib = Library(root / "lib", device="cpu")
    _, row = lib.model("gem:resnet18")
    t = time.perf_counter()
    fid, _, _ = lib.store.add_folder(photos) if photos.exists() else (None, None, None)
    if fid is None:
        photos.mkdir(parents=True)
        fid, _, _ = lib.store.add_folder(photos)
        vec = np.zeros(row.dim, np.float32)
        vec[0] = 1
        blob = vec.tobytes()
        now = time.time()
        file_rows, vec_rows = [], []
        for i in range(n):
            sub = photos / f"{i // 1000:03d}"
            if i % 1000 == 0:
                sub.mkdir()
            p = sub / f"IMG_{i:06d}.jpg"
            p.write_bytes(b"\xff\xd8\xff")
            st = p.stat()
            file_rows.append(
                {
                    "id": i + 1,
                    "folder_id": fid,
                    "path": fs_bytes(p),
                    "size": st.st_size,
                    "mtime_ns": st.st_mtime_ns,
                    "content_hash": None,
                    "status": OK,
                    "updated_at": now,
                }
            )
            vec_rows.append({"file_id": i + 1, "model_id": row.id, "vector": blob})
        with lib.store.begin() as c:
            c.execute(insert(files_t), file_rows)
            c.execute(insert(vectors_t), vec_rows)
            lib.store._bump(c, row.id)
    setup = time.perf_counter() - t
    lib.vector_index(row)  # build and save the cache once, as a real run would have
    times = []
    for _ in range(3):
        t = time.perf_counter()
        s = lib.index([photos], model="gem:resnet18")
        times.append(time.perf_counter() - t)
        assert s.indexed == 0 and s.skipped_unchanged == n, s
    lib.close()
    out = {"files": n, "setup_s": round(setup, 1), "rescan_s": round(min(times), 3)}
    if log:
        log(f"re-scan of an unchanged library of {n:,} files: {out['rescan_s']:.2f} s")
    return out


def _write_jpegs(directory: Path, n: int, size: tuple[int, int]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        small, _ = render_scene([i % 50], seed=i, size=(640, 480))
        img = small.resize(size, Image.Resampling.BILINEAR) if size != (640, 480) else small
        p = directory / f"photo_{i:04d}.jpg"
        img.save(p, quality=90)
        paths.append(p)
    return paths


def bench_index(
    count: int = 40,
    sizes: tuple[tuple[int, int], ...] = ((4000, 3000), (1024, 768)),
    model: str = "default",
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Indexing throughput (photos/s) end to end vs the bare model forward on pre-decoded
    tensors; the ratio shows how much of decoding and I/O the pipeline hides."""
    from .library import Library

    rows = []
    for size in sizes:
        root = Path(tempfile.mkdtemp(prefix="vs-bench-index-"))
        paths = _write_jpegs(root / "photos", count, size)
        lib = Library(root / "lib")
        ex, _ = lib.model(model)
        prepared = [ex.prepare(p) for p in paths]  # the same photos, decoded beforehand
        ex.run(prepared[:2])  # warm
        t = time.perf_counter()
        for p in prepared:
            ex.run([p])
        forward = len(prepared) / (time.perf_counter() - t)
        t = time.perf_counter()
        s = lib.index([root / "photos"], model=model)
        total = time.perf_counter() - t
        lib.close()
        rate = s.indexed / total
        row = {
            "photo": f"{size[0]}x{size[1]}",
            "photos": s.indexed,
            "model": model,
            "device": str(ex.device),
            "precision": ex.precision.name,
            "index_photos_per_s": round(rate, 3),
            "forward_photos_per_s": round(forward, 3),
            "ratio": round(rate / forward, 3),
        }
        rows.append(row)
        if log:
            log(
                f"{row['photo']:>9} JPEGs: index {rate:.2f} photos/s, bare forward on decoded "
                f"tensors {forward:.2f}/s, ratio {row['ratio']:.2f} ({ex.device}, "
                f"{ex.precision.name})"
            )
    return rows


def bench_train(
    methods: tuple[str, ...] = ("gem", "cider", "ugalr"),
    sizes: tuple[int, ...] = (224, 512),
    backbone: str = "resnet50",
    batch_size: int = 8,
    steps: int = 6,
    device: str = "auto",
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Training images/s per method and image size (first step, which warms up, excluded)."""
    from .synth import write_training_set
    from .training.data import FolderDataset
    from .training.trainer import TrainConfig, Trainer

    root = Path(tempfile.mkdtemp(prefix="vs-bench-train-"))
    per_class = max(2, (batch_size * (steps + 1)) // 8 + 1)
    write_training_set(root / "data", classes=8, per_class=per_class, size=(640, 480))
    data = FolderDataset(root / "data")
    rows = []
    for size in sizes:
        for method in methods:
            times: list[float] = []
            last = [time.perf_counter()]

            def progress(ev, times=times, last=last):
                if ev["kind"] == "step":
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
                val_fraction=0.0,
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


def bench_localize(
    size: int = 1024,
    results: int = 8,
    backbone: str = "resnet50",
    device: str = "auto",
    log: Callable[[str], None] | None = print,
) -> dict:
    """Milliseconds per result for click localization and for a heatmap overlay at ``size``
    px (patch features cached vs not), and what smoothing / GCN cost on extraction."""
    from .localize import Localizer, heatmap, overlay

    tmp = Path(tempfile.mkdtemp(prefix="vs-bench-loc-"))
    paths = []
    for i in range(results + 1):
        img, _ = render_scene([i], seed=i, size=(size, size * 3 // 4))
        p = tmp / f"p{i}.jpg"
        img.save(p, quality=90)
        paths.append(p)
    cfg = ModelConfig(
        architecture="gem", backbone=backbone, image_size=size, pretrained="none"
    ).resolved()
    ex = Extractor(create_model(cfg), device=device)
    ex.extract_one(paths[0])  # warm
    q, rs = paths[0], paths[1:]
    loc = Localizer(ex)
    t = time.perf_counter()
    for r in rs:
        loc.localize(q, r, point=(size / 2, size * 3 / 8))
    cold = (time.perf_counter() - t) / len(rs)
    loc._results.clear()  # features stay cached: only the matching runs again
    t = time.perf_counter()
    for r in rs:
        loc.localize(q, r, point=(size / 3, size / 4))
    warm = (time.perf_counter() - t) / len(rs)
    att = ex.extract_one(rs[0]).attention
    t = time.perf_counter()
    for _ in range(10):
        overlay(heatmap(att, (size, size * 3 // 4)))
    ov = (time.perf_counter() - t) / 10
    row = {
        "size": size,
        "device": str(ex.device),
        "precision": ex.precision.name,
        "click_ms_per_result_uncached": round(1e3 * cold, 1),
        "click_ms_per_result_cached": round(1e3 * warm, 2),
        "heatmap_overlay_ms": round(1e3 * ov, 2),
    }
    for name, params in (
        ("plain", {}),
        ("smoothing", {"smoothing": True}),
        ("gcn", {"gcn": True}),
        ("both", {"smoothing": True, "gcn": True}),
    ):
        for arch in ("gem", "cider"):
            mcfg = ModelConfig(
                architecture=arch,
                backbone=backbone,
                image_size=size,
                pretrained="none",
                arch_params=params,
            ).resolved()
            e = Extractor(create_model(mcfg), device=device)
            e.extract_one(paths[1])
            t = time.perf_counter()
            for p in paths[1:]:
                e.extract_one(p)
            row[f"{arch}_{name}_images_per_s"] = round(
                (len(paths) - 1) / (time.perf_counter() - t), 3
            )
    if log:
        log(
            f"click localization at {size}px: {row['click_ms_per_result_uncached']} ms per "
            f"result with extraction, {row['click_ms_per_result_cached']} ms with cached patch "
            f"features; heatmap + overlay {row['heatmap_overlay_ms']} ms "
            f"({row['device']}, {row['precision']})"
        )
        for arch in ("gem", "cider"):
            log(
                f"  {arch} extraction images/s: "
                + ", ".join(
                    f"{n} {row[f'{arch}_{n}_images_per_s']}"
                    for n in ("plain", "smoothing", "gcn", "both")
                )
            )
    return row


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
    from .evaluation.runner import evaluate_revisitop
    from .synth import write_eval_set, write_training_set
    from .training.data import FolderDataset
    from .training.trainer import TrainConfig, Trainer, load_trained_model

    root = Path(tempfile.mkdtemp(prefix="vs-ablation-"))
    write_training_set(
        root / "train", classes=classes, per_class=per_class, size=(160, 120), seed=1
    )
    ev = write_eval_set(
        root / "eval", queries=12, positives=6, distractors=40, size=(160, 120), seed=2
    )
    data = FolderDataset(root / "train")
    rows = []
    for name, params in (
        ("plain", {}),
        ("smoothing", {"smoothing": True}),
        ("gcn", {"gcn": True}),
        ("both", {"smoothing": True, "gcn": True}),
    ):
        cfg = TrainConfig(
            method=method,
            backbone=backbone,
            epochs=epochs,
            image_size=image_size,
            batch_size=16,
            lr=0.1,
            workers=0,
            pretrained="none",
            arcface_margin=0.1,
            arcface_scale=16,
            val_fraction=0.0,
            arch_params=params,
        )
        t = time.perf_counter()
        Trainer(cfg, data, root / name).run()
        seconds = time.perf_counter() - t
        ex = Extractor(load_trained_model(root / name), device="cpu", precision="fp32")
        res = evaluate_revisitop(ex, ev["gnd"], ev["images"])
        row = {"variant": name, "train_s": round(seconds, 1), **{p: res[p]["mAP"] for p in "EMH"}}
        rows.append(row)
        if log:
            log(
                f"{method} {name:<9} E {row['E']:6.2f}  M {row['M']:6.2f}  H {row['H']:6.2f}"
                f"  (trained {row['train_s']} s)"
            )
    return rows
