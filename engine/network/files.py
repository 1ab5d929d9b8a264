"""A checkpoint directory read without PyTorch: ``config.json`` checked and parsed, how the
model was trained, and its fingerprint computed from ``model.safetensors`` exactly as
``checkpoint.model_fingerprint`` computes it from the loaded model.

A checkpoint is a directory: ``model.safetensors`` (weights), ``config.json`` (everything
needed to rebuild the model) and, to run without PyTorch, ``model.onnx`` — a graph whose
weights are read from ``model.safetensors`` itself (ONNX external data at the tensors' byte
offsets), so a checkpoint holds one copy of its weights; ``weights_layout`` names the layout
the graph was exported against.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np

from engine.errors import (
    CheckpointError,
    ConfigError,
    InputFileError,
    NeedsTorch,
    VisualSearchError,
)
from engine.inputs import MAX_JSON_BYTES, check_regular, load_json, open_checked, read_bytes
from engine.network.config import ModelConfig, loads_json

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
FORMAT_NAME = "visual-search-checkpoint"
ONNX_NAME = "model.onnx"
#: a weights file is mapped, not read whole; the bound only refuses the absurd
MAX_WEIGHTS_BYTES = 1 << 40


def check_weights(path: str | os.PathLike) -> None:
    """``path`` (a ``model.safetensors``) refused as a ``CheckpointError`` unless it is a
    regular file: safetensors opens it with a plain blocking open, which a FIFO would hang."""
    if not os.path.lexists(path):
        raise CheckpointError(f"{path}: missing (a checkpoint needs {WEIGHTS_NAME})")
    try:
        check_regular(path, MAX_WEIGHTS_BYTES)
    except InputFileError as e:
        raise CheckpointError(str(e)) from None


def raw_config(directory: str | os.PathLike) -> dict:
    """``config.json`` of a checkpoint directory as a checked dict (without ``format``,
    ``num_parameters`` and ``extra``)."""
    d = Path(directory)
    if not d.is_dir():
        raise CheckpointError(f"{d}: not a checkpoint directory")
    path = d / CONFIG_NAME
    if not path.exists():
        raise CheckpointError(f"{path}: missing (a checkpoint needs {CONFIG_NAME})")
    try:
        raw = loads_json(read_bytes(path, MAX_JSON_BYTES), str(path))
    except (ConfigError, InputFileError) as e:
        raise CheckpointError(str(e)) from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    if raw.pop("format", FORMAT_NAME) != FORMAT_NAME:
        raise CheckpointError(f"{path}: not a visual-search checkpoint")
    raw.pop("num_parameters", None)
    raw.pop("extra", None)
    return raw


def checkpoint_config(directory: str | os.PathLike) -> ModelConfig:
    """The stored config as written (a saved config is already resolved); checked for what
    inference reads (image size, scales, mean and std)."""
    path = Path(directory) / CONFIG_NAME
    try:
        cfg = ModelConfig.from_dict(raw_config(directory))
        if not 32 <= int(cfg.image_size) <= 8192:
            raise ConfigError(f"image_size {cfg.image_size} is out of range")
        if not cfg.scales or any(not 0.1 <= float(s) <= 2.0 for s in cfg.scales):
            raise ConfigError(f"scales {cfg.scales} are out of range")
        if len(cfg.mean) != 3 or len(cfg.std) != 3 or any(float(s) <= 0 for s in cfg.std):
            raise ConfigError("mean and std need three values each, std positive")
        for name in ("mean", "std"):
            if not all(math.isfinite(v) for v in getattr(cfg, name)):
                raise ConfigError(f"{name} must be a finite number, got {getattr(cfg, name)}")
    except (ConfigError, TypeError, ValueError, OverflowError) as e:
        raise CheckpointError(f"{path}: {e}") from None
    return cfg


def checkpoint_extra(directory: str | os.PathLike) -> dict:
    """How the model was trained (classes, epoch), if recorded."""
    try:
        extra = load_json(Path(directory) / CONFIG_NAME).get("extra")
    except (VisualSearchError, AttributeError):
        return {}
    return extra if isinstance(extra, dict) else {}


def fingerprint(config: dict, tensors) -> str:
    """A short stable id of (config, weights): vectors of different fingerprints never mix.
    ``tensors``: ``(name, array)`` pairs, float weights as the model holds them (float32)."""
    h = hashlib.sha256()
    h.update(json.dumps(config, sort_keys=True).encode())
    for k, v in sorted(tensors, key=lambda kv: kv[0]):
        h.update(k.encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(np.ascontiguousarray(v).tobytes())
    return h.hexdigest()[:16]


def safetensors_header(path: str | os.PathLike) -> tuple[dict, int, bytes]:
    """``(header, base, raw)`` of a safetensors file: its JSON header (tensor name →
    ``dtype``, ``shape``, ``data_offsets`` relative to ``base``), the byte offset where the
    tensor data starts, and the header's raw bytes."""
    with open_checked(path, MAX_WEIGHTS_BYTES) as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: not a safetensors file (too short)")
        n = int.from_bytes(head, "little")
        if n > 100_000_000:
            raise CheckpointError(f"{path}: not a safetensors file (header of {n} bytes)")
        raw = f.read(n)
    try:
        header = loads_json(raw, str(path))
    except ConfigError:
        raise CheckpointError(f"{path}: not a safetensors file (unreadable header)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: not a safetensors file (header is not a JSON object)")
    header.pop("__metadata__", None)
    return header, 8 + n, raw


def weights_layout(directory: str | os.PathLike) -> str:
    """A hash of where each tensor lies in ``model.safetensors`` (names, types, shapes and
    offsets, not values): ``model.onnx`` reads its weights at those offsets, so it runs
    whatever weights the file holds as long as the layout is the one it was exported for."""
    header, base, _ = safetensors_header(Path(directory) / WEIGHTS_NAME)
    text = json.dumps({"base": base, "tensors": header}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint_from_files(directory: str | os.PathLike) -> str:
    """The fingerprint of the model a checkpoint directory holds, from its files."""
    from safetensors.numpy import load_file

    d = Path(directory)
    config = ModelConfig.from_dict(raw_config(d)).to_dict()
    check_weights(d / WEIGHTS_NAME)
    try:
        tensors = load_file(str(d / WEIGHTS_NAME))
    except Exception as e:
        where = d / WEIGHTS_NAME
        raise CheckpointError(f"{where}: corrupt or not a safetensors file ({e})") from None
    as_held = (
        (k, v.astype(np.float32) if np.issubdtype(v.dtype, np.floating) else v)
        for k, v in tensors.items()
    )
    return fingerprint(config, as_held)


def copy_checkpoint(
    src: str | os.PathLike, dst: str | os.PathLike, half: bool = False, image_size=None
) -> Path:
    """``checkpoint.export_checkpoint`` without PyTorch: a copy with a new default long side
    (the ONNX graph takes any size). Float16 weights need the ONNX model re-exported, which
    needs PyTorch."""
    import shutil

    if half:
        raise NeedsTorch("storing a model in half precision")
    s, d = Path(src), Path(dst)
    raw_config(s)  # refuses what is not a checkpoint
    d.mkdir(parents=True, exist_ok=True)
    for name in (WEIGHTS_NAME, ONNX_NAME):
        if (s / name).is_file():
            shutil.copyfile(s / name, d / name)
    meta = load_json(s / CONFIG_NAME)
    if image_size:
        meta["image_size"] = int(image_size)
    (d / CONFIG_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", "utf-8")
    checkpoint_config(d)  # the new size is checked as any config is
    return d
