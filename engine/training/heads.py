"""Training heads: they turn embeddings into class logits and are never saved with a model."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ArcFaceHead(nn.Module):
    """Additive angular margin (ArcFace) logits.

    ``x (B, D)`` unit embeddings, ``labels (B,)`` → ``(B, K)`` logits
    ``s · cos(θ_y + m)`` for the true class and ``s · cos θ_j`` for the others. Where
    ``θ_y + m`` would pass π the usual monotonic fallback ``cos θ − m sin m`` is used.
    """

    def __init__(self, dim: int, num_classes: int, margin: float = 0.3, scale: float = 30.0):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, dim))
        nn.init.xavier_uniform_(self.weight)
        self.margin, self.scale = float(margin), float(scale)
        self._cos_m, self._sin_m = math.cos(margin), math.sin(margin)
        self._th = math.cos(math.pi - margin)
        self._mm = math.sin(math.pi - margin) * margin

    def cosine(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(x.float(), dim=1), F.normalize(self.weight.float(), dim=1))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cos = self.cosine(x).clamp(-1.0, 1.0)
        if labels is None:
            return self.scale * cos
        sin = (1.0 - cos.pow(2)).clamp(min=1e-7).sqrt()
        phi = cos * self._cos_m - sin * self._sin_m
        phi = torch.where(cos > self._th, phi, cos - self._mm)
        onehot = F.one_hot(labels, cos.shape[1]).to(torch.bool)
        return self.scale * torch.where(onehot, phi, cos)

    def extra_repr(self) -> str:
        return f"classes={self.weight.shape[0]}, margin={self.margin}, scale={self.scale}"


class LinearHead(nn.Module):
    """Plain linear classifier (UGALR's intermediate supervision, CiDeR-FT stage 1)."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.fc(x.float())
