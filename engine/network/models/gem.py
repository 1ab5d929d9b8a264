"""``gem``: backbone → GeM (learnable p) → whitening FC → L2 — the papers' baseline."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.network.models.backbones import ResNetBackbone
from engine.network.models.base import ModelOutput, RetrievalModel, activation_map
from engine.network.models.context import SpatialParams, build_context, pool_with_context
from engine.network.models.layers import GeM, Whitening, l2n
from engine.network.models.registry import register_model


@dataclass(frozen=True)
class GeMParams(SpatialParams):
    gem_p: float = 3.0
    gem_learnable: bool = True


class GeMNet(RetrievalModel):
    """``x (B, 3, H, W)`` → backbone ``F (B, C, h, w)`` → GeM ``(B, C)`` → FC ``(B, D)`` → L2."""

    def __init__(self, config) -> None:
        super().__init__()
        p: GeMParams = GeMParams(**config.arch_params)
        self.config = config
        self.backbone = ResNetBackbone(config.backbone, config.pretrained)
        c = self.backbone.num_features
        self.feature_dim = c
        self.num_features = config.descriptor_dim or c
        self.pool = GeM(p.gem_p, learnable=p.gem_learnable)
        self.smooth, self.gcn = build_context(c, p)
        self.whiten = Whitening(c, self.num_features)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        f = self.backbone(x)
        att = activation_map(f)
        pooled = pool_with_context(f, att, self.pool, self.smooth, self.gcn)
        return ModelOutput(l2n(self.whiten(pooled)), att, f)


@register_model(
    "gem",
    GeMParams,
)
def build_gem(config) -> GeMNet:
    return GeMNet(config)
