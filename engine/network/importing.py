"""Adding a checkpoint to the user's models folder: copied, exported to ONNX, and checked —
ONNX Runtime against PyTorch on photos of several aspect ratios, so a model that would drift
without PyTorch is refused rather than served."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from engine.errors import CheckpointError, NeedsTorch
from engine.network.files import CONFIG_NAME, WEIGHTS_NAME
from engine.network.loader import torch_available
from engine.paths import models_dir

#: what ONNX Runtime must reach against PyTorch (float32 on both) to be served
MIN_COSINE = 0.999
MIN_ATTENTION_R = 0.99
#: the check's photo sizes (width, height): wide, tall, square, small
CHECK_SIZES = ((640, 480), (360, 540), (400, 400), (200, 120))


def parity(directory: str | os.PathLike, photos=None) -> dict:
    """Descriptor cosine and attention correlation between ONNX Runtime and PyTorch (fp32)
    on ``photos`` (default: the bundled samples resized to ``CHECK_SIZES``)."""
    from PIL import Image

    from engine.network.checkpoint import load_checkpoint
    from engine.network.extract import Extractor
    from engine.network.onnx_model import OnnxExtractor

    if photos is None:
        from resources import resource_path

        samples = sorted(resource_path("samples").glob("*.jpg"))
        photos = [
            Image.open(samples[i % len(samples)]).convert("RGB").resize(size)
            for i, size in enumerate(CHECK_SIZES)
        ]
    ox = OnnxExtractor(directory, device="cpu")
    tx = Extractor(load_checkpoint(directory), device="cpu", precision="fp32")
    cos, att = [], []
    for im in photos:
        a, b = ox.extract_one(im), tx.extract_one(im)
        cos.append(float(a.descriptor @ b.descriptor))
        fa, fb = a.attention.ravel(), b.attention.ravel()
        flat = np.ptp(fb) < 1e-3 * max(float(np.abs(fb).mean()), 1e-12)
        att.append(1.0 if flat else float(np.corrcoef(fa, fb)[0, 1]))
    return {"photos": len(cos), "min_cosine": min(cos), "min_attention_r": min(att)}


def import_checkpoint(src: str | os.PathLike, name: str | None = None, half: bool = False) -> dict:
    """Copy the checkpoint ``src`` to the models folder (as ``name``, default its folder's
    name), write its ``model.onnx`` and check it; returns what was done and measured."""
    if not torch_available():
        raise NeedsTorch("importing a checkpoint (its ONNX export)")
    from engine.network.checkpoint import read_config, write_onnx
    from engine.network.files import ONNX_NAME

    src = Path(src).expanduser()
    read_config(src)  # refuses what is not a checkpoint, with its reason
    if not (src / WEIGHTS_NAME).is_file():
        raise CheckpointError(f"{src / WEIGHTS_NAME}: missing (a checkpoint needs {WEIGHTS_NAME})")
    dst = models_dir() / (name or src.resolve().name)
    if dst.resolve() != src.resolve():
        dst.mkdir(parents=True, exist_ok=True)
        for f in (WEIGHTS_NAME, CONFIG_NAME):
            shutil.copyfile(src / f, dst / f)
    path = write_onnx(dst, half=half)
    check = parity(dst)
    if check["min_cosine"] < MIN_COSINE or check["min_attention_r"] < MIN_ATTENTION_R:
        (dst / ONNX_NAME).unlink(missing_ok=True)
        raise CheckpointError(
            f"{src}: its ONNX export drifts from PyTorch (descriptor cosine "
            f"{check['min_cosine']:.4f}, attention correlation {check['min_attention_r']:.3f}); "
            "it will run through PyTorch only"
        )
    return {
        "source": str(src),
        "model": str(dst),
        "onnx_mb": path.stat().st_size / 2**20,
        **check,
    }
