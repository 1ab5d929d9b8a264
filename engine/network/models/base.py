"""The interface every retrieval model offers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import torch
from torch import nn

from engine.network.models.layers import minmax_norm


@dataclass
class ModelOutput:
    """One forward pass.

    descriptor: ``(B, D)`` float32, unit L2 norm.
    attention:  ``(B, h, w)`` float32 in [0, 1] at feature resolution (where the model looked).
    features:   ``(B, C, h, w)`` patch features (for localization), before pooling.
    aux:        extra training outputs (e.g. UGALR's ``"local"`` embedding ``(B, L)``).
    """

    descriptor: torch.Tensor
    attention: torch.Tensor
    features: torch.Tensor
    aux: dict[str, torch.Tensor] = field(default_factory=dict)


class RetrievalModel(nn.Module):
    """Base class: subclasses implement ``forward(x) -> ModelOutput``.

    ``x (B, 3, H, W)`` is a normalised image batch.
    """

    #: descriptor dimension D
    num_features: int
    #: channels C of the patch features
    feature_dim: int
    #: the model's config (an ``engine.network.config.ModelConfig``, resolved)
    config: object
    #: width of each ``ModelOutput.aux`` embedding, by key (what an auxiliary head takes)
    aux_dims: Mapping[str, int] = MappingProxyType({})

    def forward(self, x: torch.Tensor) -> ModelOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Patch feature map ``(B, C, h, w)``."""
        return self(x).features

    def forward_descriptor(self, x: torch.Tensor) -> torch.Tensor:
        """Global descriptors ``(B, D)``, unit norm."""
        return self(x).descriptor

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """Attention ``(B, h, w)`` in [0, 1]."""
        return self(x).attention


def activation_map(features: torch.Tensor) -> torch.Tensor:
    """Channel-mean activation ``(B, C, h, w)`` → ``(B, h, w)`` min-max normalised."""
    return minmax_norm(features.float().mean(dim=1))
