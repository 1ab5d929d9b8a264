"""Facts about the registered architectures (parameter counts, dimensions) without weights."""

from __future__ import annotations

import dataclasses

import torch

from engine.network.config import ModelConfig
from engine.network.models import create_model, get_entry, list_models
from engine.network.models.backbones import BACKBONES, ResNetBackbone


def _count(module: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def architecture_table(backbones: list[str] | None = None) -> list[dict]:
    """One row per (architecture, backbone): parameter counts and descriptor dimension.

    Models are built on the ``meta`` device, so no memory is allocated and nothing is loaded.
    ``params_without_whitening`` leaves out the final whitening FC (the papers' tables count
    the network up to pooling).
    """
    rows = []
    with torch.device("meta"):
        bare = {b: _count(ResNetBackbone(b, pretrained="none")) for b in backbones or BACKBONES}
        for name in list_models():
            entry = get_entry(name)
            for b in backbones or BACKBONES:
                cfg = ModelConfig(architecture=name, backbone=b, pretrained="none").resolved()
                m = create_model(cfg, seed=None)
                total = _count(m)
                rows.append(
                    {
                        "name": name,
                        "backbone": b,
                        "params": total,
                        "params_without_whitening": total - _count(m.whiten),
                        "backbone_params": bare[b],
                        "descriptor_dim": int(m.num_features),
                        "feature_dim": int(m.feature_dim),
                        "scales": list(cfg.scales),
                        "description": entry.description,
                        # training defaults (the registry's entry)
                        "arcface_margin": entry.arcface_margin,
                        "aux_loss": dataclasses.asdict(entry.aux_loss) if entry.aux_loss else None,
                        "cider_ft": entry.finetune_head is not None,
                    }
                )
    return rows
