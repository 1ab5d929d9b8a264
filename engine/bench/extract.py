"""``bench extract``: forward and end-to-end extraction speed per architecture and size."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from engine.network.config import ModelConfig
from engine.network.extract import Extractor
from engine.network.models import create_model, list_models
from engine.network.models.backbones import ResNetBackbone
from engine.training.generator import render_scene


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
    models: list[str] | None = None,  # None: every registered architecture
    backbone: str = "resnet50",
    sizes: list[int] | tuple[int, ...] = (512, 1024),
    repeats: int = 3,
    device: str = "auto",
    precision: str = "auto",
    compile: bool = False,
    channels_last: bool = True,
    batch_sizes: tuple[int, ...] = (),
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Per (size, model): forward ms on a pre-decoded input, the ratio to the bare backbone's
    forward on the same input, and end-to-end images/s (JPEG decode + every configured scale);
    with ``batch_sizes``, the forward's images/s at each batch size (``batch_forward``).
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
        prepared = bare.prepare(photo)
        x = bare._normalise([prepared.pixels], prepared.hw)
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
        for name in models or list_models():
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
            batched = {}
            for b in batch_sizes:
                xb = x.expand(b, *x.shape[1:]).contiguous(
                    memory_format=torch.channels_last if channels_last else torch.contiguous_format
                )
                t_b = _timeit(lambda ex=ex, xb=xb: run_fwd(ex, xb), repeats, warmup, sync)
                batched[str(b)] = round(b / t_b, 2)
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
                "batch_forward_images_per_s": batched,
            }
            rows.append(row)
            if log:
                log(
                    f"  {name:<6} forward {row['forward_ms']:8.1f} ms  "
                    f"x{row['head_overhead_ratio']:.2f} of backbone  |  extract "
                    f"({len(ex.scales)} scale{'s' if len(ex.scales) > 1 else ''}, with decode) "
                    f"{row['extract_images_per_s']:.2f} images/s"
                    + "".join(f"; batch {b}: {r:.1f}/s" for b, r in batched.items())
                )
    return rows
