"""Checkpoints: a directory with ``model.safetensors`` and ``config.json``.

``config.json`` holds everything needed to rebuild the model (architecture, backbone,
hyper-parameters, preprocessing, descriptor dimension, schema version). Nothing on the load
path unpickles: weights are safetensors, the config is JSON. Every problem is reported as a
``CheckpointError`` naming the file and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from engine.atomic import write_atomically
from engine.errors import CheckpointError, ConfigError
from engine.network.config import ModelConfig
from engine.network.files import (
    CONFIG_NAME,
    FORMAT_NAME,
    ONNX_NAME,
    WEIGHTS_NAME,
    check_weights,
    checkpoint_extra,
    fingerprint,
    raw_config,
)
from engine.network.models import create_model, list_models
from engine.network.models.base import RetrievalModel


def state_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state as contiguous CPU tensors (what goes into ``model.safetensors``)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def save_checkpoint(
    model: RetrievalModel,
    directory: str | os.PathLike,
    extra: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write ``model`` to ``directory`` (created if needed); each file is replaced atomically.

    ``half``: store floating-point weights as float16 (half the size; loading converts back to
    the model's float32, and descriptors stay within cosine 0.999 of the original's).
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    cfg: ModelConfig = model.config
    meta = {
        "format": FORMAT_NAME,
        **cfg.to_dict(),
        "descriptor_dim": int(model.num_features),
        "num_parameters": int(sum(p.numel() for p in model.parameters())),
    }
    if extra:
        meta["extra"] = extra
    tensors = state_tensors(model)
    if half:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    write_atomically(out / WEIGHTS_NAME, lambda p: save_file(tensors, p, metadata={"format": "pt"}))
    text = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    write_atomically(out / CONFIG_NAME, lambda p: Path(p).write_text(text, encoding="utf-8"))
    return out


def read_config(directory: str | os.PathLike) -> ModelConfig:
    """Parse and check ``config.json`` of a checkpoint directory (resolved: every default
    filled in and checked against the registry)."""
    raw = raw_config(directory)
    try:
        return ModelConfig.from_dict(raw).resolved()
    except (ConfigError, TypeError, ValueError, OverflowError) as e:
        raise CheckpointError(f"{Path(directory) / CONFIG_NAME}: {e}") from None


def load_checkpoint(
    directory: str | os.PathLike, device: str | torch.device = "cpu"
) -> RetrievalModel:
    """Rebuild the model stored in ``directory``; refuse any mismatch with a clear message."""
    d = Path(directory)
    cfg = read_config(d)
    cfg.pretrained = "none"  # the weights come from the file
    wpath = d / WEIGHTS_NAME
    check_weights(wpath)
    model = create_model(cfg)
    expected = model.state_dict()
    try:
        with safe_open(str(wpath), framework="pt", device="cpu") as f:
            keys = set(f.keys())
            missing = sorted(set(expected) - keys)
            unexpected = sorted(keys - set(expected))
            if missing:
                raise CheckpointError(f"{wpath}: missing key(s): {_short(missing)}")
            if unexpected:
                raise CheckpointError(f"{wpath}: unexpected key(s): {_short(unexpected)}")
            state = {}
            for k in sorted(keys):
                shape = tuple(f.get_slice(k).get_shape())
                want = tuple(expected[k].shape)
                if shape != want:
                    raise CheckpointError(
                        f"{wpath}: shape mismatch for {k!r}: file has {shape}, "
                        f"the {cfg.architecture}/{cfg.backbone} model needs {want}"
                    )
                state[k] = f.get_tensor(k)
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{wpath}: corrupt or not a safetensors file ({e})") from None
    for k, v in state.items():
        if v.dtype != expected[k].dtype:
            state[k] = v.to(expected[k].dtype)
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"{wpath}: tensor {k!r} holds NaN or infinite values")
    model.load_state_dict(state, strict=True)
    model.checkpoint_extra = checkpoint_extra(d)  # how it was trained (classes, epoch), if recorded
    return model.to(device).eval()


def export_checkpoint(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    half: bool = False,
    image_size: int | None = None,
) -> Path:
    """Copy the checkpoint ``src`` to ``dst``, its weights as float16 with ``half`` and its
    default long side changed to ``image_size`` if given; ``extra`` in its config is kept, and
    ``model.onnx`` is written for the copy when ``src`` had one."""
    model = load_checkpoint(src)
    if image_size:
        model.config = dataclasses.replace(model.config, image_size=image_size).resolved()
    extra = checkpoint_extra(src) or None
    out = save_checkpoint(model, dst, extra=extra, half=half)
    if (Path(src) / ONNX_NAME).is_file():
        write_onnx(out, half=half)
    return out


def _short(names: list[str], n: int = 5) -> str:
    more = f" (and {len(names) - n} more)" if len(names) > n else ""
    return ", ".join(names[:n]) + more


# ----------------------------------------------------------------------- name or directory

DEFAULT_MODEL = "default"


def bundled_model_dir() -> Path | None:
    """The default model shipped in ``resources/models/default``, if this build has one."""
    from resources import resource_path

    p = resource_path("models", "default")
    return p if (p / CONFIG_NAME).is_file() and (p / WEIGHTS_NAME).is_file() else None


def default_config(architecture: str = "gem", **overrides: Any) -> ModelConfig:
    return ModelConfig(architecture=architecture, **overrides).resolved()


def resolve_model(spec: str | None = None, pretrained: str = "cache") -> RetrievalModel:
    """A model from a checkpoint directory, an architecture name, or ``default``.

    ``default`` is the bundled model when this build has one, otherwise an untrained ``gem``
    on ResNet-50 (with ImageNet weights if they are already in the local torch cache).
    An architecture name may carry a backbone: ``cider:resnet101``.
    """
    spec = spec or DEFAULT_MODEL
    if spec == DEFAULT_MODEL:
        bundled = bundled_model_dir()
        if bundled is not None:
            return load_checkpoint(bundled)
        spec = "gem"
    path = Path(spec).expanduser()
    if path.is_dir():
        return load_checkpoint(path)
    arch, _, backbone = spec.partition(":")
    if arch in list_models():
        return create_model(
            ModelConfig(
                architecture=arch, backbone=backbone or None, pretrained=pretrained
            ).resolved()
        )
    if path.exists():
        raise CheckpointError(f"{path}: not a checkpoint directory")
    raise ConfigError(
        f"no checkpoint directory or architecture named {spec!r} "
        f"(architectures: {', '.join(list_models())})"
    )


def model_fingerprint(model: RetrievalModel) -> str:
    """A short stable id of (config, weights): vectors of different fingerprints never mix
    (``files.fingerprint_from_files`` gives the same from a checkpoint's files)."""

    def held(v: torch.Tensor):
        v = v.detach().cpu().contiguous()
        return (v.view(torch.int16) if v.dtype == torch.bfloat16 else v).numpy()

    state = ((k, held(v)) for k, v in model.state_dict().items())
    return fingerprint(model.config.to_dict(), state)


def copy_matching_weights(model, spec: str) -> int:
    """Copy the weights of the model ``spec`` names (a checkpoint folder, ``default``) into
    every layer of ``model`` with the same name and shape; returns how many tensors."""
    source = resolve_model(spec).state_dict()
    own = model.state_dict()
    same = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    if not same:
        raise ConfigError(f"{spec}: no layer matches the model being trained")
    model.load_state_dict(same, strict=False)
    return len(same)


def write_onnx(directory: str | os.PathLike, half: bool = False) -> Path:
    """``model.onnx`` beside the checkpoint in ``directory``, exported from its weights (needs
    PyTorch). What training and ``models import`` call."""
    from engine.network.onnx_model import export_onnx

    model = load_checkpoint(directory).eval()
    return export_onnx(model, directory, model_fingerprint(model), half=half)
