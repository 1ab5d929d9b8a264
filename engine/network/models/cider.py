"""``cider``: single-stage detect-to-retrieve (CiDeR).

``f = f^p ∘ f^ℓ ∘ f^c ∘ f^e ∘ f^b``:
backbone ``f^b`` → Squeeze-and-Excitation ``f^e`` on the last stage's output → SKNet selective
context ``f^c`` (learnable convex fusion) → attentional localization ``f^ℓ`` (eqs 1–5) →
GeM → whitening FC → L2 (``f^p``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.network.models.backbones import ResNetBackbone
from engine.network.models.base import ModelOutput, RetrievalModel
from engine.network.models.context import SpatialParams, build_context, pool_with_context
from engine.network.models.layers import (
    AttentionalLocalization,
    GeM,
    SelectiveKernel,
    SqueezeExcitation,
    Whitening,
    l2n,
)
from engine.network.models.registry import register_model


@dataclass(frozen=True)
class CiDeRParams(SpatialParams):
    #: thresholds τ_i, one mask each (T = len(thresholds))
    thresholds: tuple[float, ...] = (0.25, 0.5)
    #: training-time β ~ clip(N(beta_mean, beta_std²), 0, 1), drawn per position
    beta_mean: float = 0.1
    beta_std: float = 0.9
    #: inference β; None = E[clip(N(beta_mean, beta_std²), 0, 1)]
    beta_eval: float | None = None
    se_reduction: int = 16
    sk_branches: int = 2
    sk_groups: int = 32
    sk_reduction: int = 16
    sk_min_dim: int = 32
    gem_p: float = 3.0
    gem_learnable: bool = True


class CiDeRNet(RetrievalModel):
    """``x (B, 3, H, W)`` → ``F (B, C, h, w)`` → SE → SK → ``F^ℓ`` → GeM → FC → L2 ``(B, D)``.

    ``features`` are the enhanced, context-selected map before masking (what localization
    compares); ``attention`` is ``A`` of eq. 1.
    """

    def __init__(self, config) -> None:
        super().__init__()
        p = CiDeRParams(**config.arch_params)
        self.config = config
        self.backbone = ResNetBackbone(config.backbone, config.pretrained)
        c = self.backbone.num_features
        self.feature_dim = c
        self.num_features = config.descriptor_dim or c
        self.enhance = SqueezeExcitation(c, p.se_reduction)
        self.context = SelectiveKernel(c, p.sk_branches, p.sk_groups, p.sk_reduction, p.sk_min_dim)
        self.localize = AttentionalLocalization(
            c, tuple(p.thresholds), p.beta_mean, p.beta_std, p.beta_eval
        )
        self.pool = GeM(p.gem_p, learnable=p.gem_learnable)
        self.smooth, self.gcn = build_context(c, p)
        self.whiten = Whitening(c, self.num_features)

    def head_modules(self) -> list[torch.nn.Module]:
        """Everything after the backbone (what CiDeR-FT's second stage trains)."""
        mods = [self.enhance, self.context, self.localize, self.pool, self.whiten]
        return mods + [m for m in (self.smooth, self.gcn) if m is not None]

    def forward(self, x: torch.Tensor) -> ModelOutput:
        f = self.context(self.enhance(self.backbone(x)))
        f_loc, a = self.localize(f)
        pooled = pool_with_context(f_loc, a, self.pool, self.smooth, self.gcn)
        return ModelOutput(l2n(self.whiten(pooled)), a, f)


@register_model(
    "cider",
    CiDeRParams,
    finetune_head=CiDeRNet.head_modules,
)
def build_cider(config) -> CiDeRNet:
    return CiDeRNet(config)
