"""``bench context``: the network's seed method (patch features matched to a click), heatmap
overlays and the cost of the spatial-context switches on extraction."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from engine.bench.common import CONTEXT_VARIANTS, context_architectures
from engine.network.config import ModelConfig
from engine.network.extract import Extractor
from engine.network.models import create_model
from engine.training.generator import render_scene


def bench_context(
    size: int = 1024,
    results: int = 8,
    backbone: str = "resnet50",
    device: str = "auto",
    log: Callable[[str], None] | None = print,
) -> dict:
    """Milliseconds per result for the seed method's click and for a heatmap overlay at ``size``
    px (patch features cached vs not), and what smoothing / GCN cost on extraction."""
    from engine.network.seed import Localizer
    from engine.photo.drawing import heatmap, overlay

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
    archs = context_architectures()
    for name, params in CONTEXT_VARIANTS:
        for arch in archs:
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
            f"seed method's click at {size}px: {row['click_ms_per_result_uncached']} ms per "
            f"result with extraction, {row['click_ms_per_result_cached']} ms with cached patch "
            f"features; heatmap + overlay {row['heatmap_overlay_ms']} ms "
            f"({row['device']}, {row['precision']})"
        )
        for arch in archs:
            log(
                f"  {arch} extraction images/s: "
                + ", ".join(f"{n} {row[f'{arch}_{n}_images_per_s']}" for n, _ in CONTEXT_VARIANTS)
            )
    return row
