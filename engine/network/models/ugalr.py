"""``ugalr``: global descriptor fused with multi-attentive local attention (UGALR).

LALM on block 3's output ``X (B, C3, H, W)`` gives ``D = G ⊙ X``. ``D`` feeds an intermediate
branch (average pool → whitening FC, supervised by cross-entropy during training) and its
channel mean ``O (B, 1, H, W)`` is concatenated to ``X``, so block 4 takes ``C3 + 1`` channels.
The global branch is GeM (p=3) → FC to 512 → L2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.network.models.backbones import ResNetBackbone
from engine.network.models.base import ModelOutput, RetrievalModel, activation_map
from engine.network.models.context import SpatialParams, build_context, pool_with_context
from engine.network.models.layers import LALM, GeM, Whitening, l2n, minmax_norm
from engine.network.models.registry import AuxLoss, register_model


@dataclass(frozen=True)
class UGALRParams(SpatialParams):
    reduce_dim: int = 512
    inner_dim: int = 256
    local_dim: int = 512
    gem_p: float = 3.0
    gem_learnable: bool = True


class UGALRNet(RetrievalModel):
    """``x (B, 3, H, W)`` → block 3 ``X`` → LALM → ``[X, O]`` → block 4 → GeM → FC → L2.

    ``aux["local"] (B, local_dim)`` is the intermediate embedding for the cross-entropy head;
    ``attention`` is LALM's ``G`` averaged over channels, min-max normalised.
    """

    def __init__(self, config) -> None:
        super().__init__()
        p = UGALRParams(**config.arch_params)
        self.config = config
        self.backbone = ResNetBackbone(config.backbone, config.pretrained)
        c3 = self.backbone.channels[2]
        self.backbone.widen_layer4_input(1)
        c = self.backbone.num_features
        self.feature_dim = c
        self.num_features = config.descriptor_dim or 512
        self.lalm = LALM(c3, p.reduce_dim, p.inner_dim)
        self.local_whiten = Whitening(c3, p.local_dim)
        self.aux_dims = {"local": p.local_dim}
        self.pool = GeM(p.gem_p, learnable=p.gem_learnable)
        self.smooth, self.gcn = build_context(c, p)
        self.whiten = Whitening(c, self.num_features)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        x3 = self.backbone.forward_to_layer3(x)  # (B, C3, H, W)
        d, g = self.lalm(x3)
        local = self.local_whiten(d.float().mean(dim=(2, 3)))  # (B, local_dim)
        o = d.mean(dim=1, keepdim=True)  # (B, 1, H, W)
        f = self.backbone.layer4(torch.cat([x3, o], dim=1))  # block 4 sees C3 + 1 channels
        score = activation_map(f) if self.gcn is not None else None
        pooled = pool_with_context(f, score, self.pool, self.smooth, self.gcn)
        desc = l2n(self.whiten(pooled))
        return ModelOutput(desc, minmax_norm(g.float().mean(dim=1)), f, {"local": local})


@register_model(
    "ugalr",
    UGALRParams,
    default_scales=(0.3535, 0.5, 0.7071, 1.0, 1.4142),
    arcface_margin=0.15,
    aux_loss=AuxLoss("local", weight=0.6),  # λ of L = L_g + λ L_a
    train_backbone="resnet50",
)
def build_ugalr(config) -> UGALRNet:
    return UGALRNet(config)
