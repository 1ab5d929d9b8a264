"""``bench onnx``: ONNX Runtime against PyTorch, per architecture, on real photos — the
parity every exported model must keep (descriptor cosine ≥ 0.999, attention correlation ≥
0.99, both in float32) and the time each takes per photo."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

#: (name, architecture, params): each architecture, and the spatial-context switches on
VARIANTS = (
    ("default", None, None),
    ("gem", "gem", {}),
    ("cider", "cider", {}),
    ("ugalr", "ugalr", {}),
    ("gem+context", "gem", {"smoothing": True, "gcn": True}),
    ("cider+context", "cider", {"smoothing": True, "gcn": True}),
    ("ugalr+context", "ugalr", {"smoothing": True, "gcn": True}),
)


def variant_checkpoint(arch: str | None, params: dict | None, folder: Path) -> Path:
    """A checkpoint folder with model.onnx: the bundled default, or an architecture on
    ResNet-18 with the default model's weights where its layers match (seeded elsewhere)."""
    from engine.network.checkpoint import (
        bundled_model_dir,
        copy_matching_weights,
        save_checkpoint,
        write_onnx,
    )
    from engine.network.config import ModelConfig
    from engine.network.models import create_model

    if arch is None:
        return bundled_model_dir()
    cfg = ModelConfig(
        architecture=arch, backbone="resnet18", pretrained="none", arch_params=params or {}
    ).resolved()
    model = create_model(cfg).eval()
    copy_matching_weights(model, "default")
    save_checkpoint(model, folder)
    write_onnx(folder)
    return folder


def bench_onnx(photos: str, n: int = 20, log: Callable[[str], None] | None = print) -> list[dict]:
    from PIL import Image

    from engine.network.checkpoint import load_checkpoint
    from engine.network.extract import Extractor
    from engine.network.importing import parity
    from engine.network.onnx_model import OnnxExtractor
    from engine.photo.formats import is_photo_name

    files = sorted(p for p in Path(photos).rglob("*") if is_photo_name(p.name.encode()))[:n]
    images = [Image.open(p).convert("RGB") for p in files]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, arch, params in VARIANTS:
            d = variant_checkpoint(arch, params, Path(tmp) / name)
            check = parity(d, images)
            ox = OnnxExtractor(d, device="cpu")
            tx = Extractor(load_checkpoint(d), device="cpu")
            times = {}
            for label, ex in (("onnx", ox), ("torch", tx)):
                ex.extract_one(images[0])
                t = time.perf_counter()
                for im in images:
                    ex.extract_one(im)
                times[label] = 1000 * (time.perf_counter() - t) / len(images)
            row = {
                "model": name,
                **check,
                "onnx_ms": round(times["onnx"]),
                "torch_ms": round(times["torch"]),
            }
            rows.append(row)
            if log:
                log(
                    f"{name:<15} {check['photos']} photos: descriptor cosine ≥ "
                    f"{check['min_cosine']:.6f}, attention r ≥ {check['min_attention_r']:.4f}; "
                    f"{row['onnx_ms']} ms/photo (ONNX Runtime) vs {row['torch_ms']} (PyTorch, "
                    f"{tx.precision.name})"
                )
    return rows
