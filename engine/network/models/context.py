"""Spatial context for global descriptors (the third seed paper), both optional by config.

* ``LearnableSmoothing`` (Method 1): per pixel a kernel feature ``f_xy``, a bandwidth ``a_xy``
  and a self-confidence ``c_xy`` are predicted; each feature is replaced by a weighted mean of
  its K×K neighbourhood with ``w = c_xy`` at the centre and ``exp(−a_xy ‖f_xy − f_uv‖²)``
  elsewhere, normalised to sum to one.
* ``ContextGCN`` (Method 2): the top-K local features (by attention or norm) become graph
  nodes; edges join nodes that are close in the image and similar in feature space; a small
  residual GCN propagates context and the refined nodes are pooled and added to the global
  pooled vector (scaled by a learnable ``gamma``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.network.models.layers import gem


class LearnableSmoothing(nn.Module):
    """``(B, C, H, W)`` → ``(B, C, H, W)`` smoothed with predicted, feature-dependent kernels."""

    def __init__(self, channels: int, kernel: int = 3, feat_dim: int = 32) -> None:
        super().__init__()
        if kernel % 2 == 0 or kernel < 3:
            raise ValueError("kernel must be odd and ≥ 3")
        self.kernel = kernel
        self.kfeat = nn.Conv2d(channels, feat_dim, 1)  # f_xy
        self.bandwidth = nn.Conv2d(channels, 1, 1)  # a_xy = softplus(·)
        self.confidence = nn.Conv2d(channels, 1, 1)  # c_xy = softplus(·)
        nn.init.zeros_(self.bandwidth.weight)
        nn.init.constant_(self.bandwidth.bias, 0.5413)  # softplus → 1
        nn.init.zeros_(self.confidence.weight)
        nn.init.constant_(self.confidence.bias, 0.5413)

    def predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``f (B, d, H, W)``, ``a (B, 1, H, W)``, ``c (B, 1, H, W)``."""
        x = x.float()
        return self.kfeat(x), F.softplus(self.bandwidth(x)), F.softplus(self.confidence(x))

    def weights_from(self, f: torch.Tensor, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Normalised weights ``(B, K*K, H, W)`` for the neighbourhood in unfold order.

        Neighbours outside the map get weight 0.
        """
        B, d, H, W = f.shape
        k, pad = self.kernel, self.kernel // 2
        fu = F.unfold(f, k, padding=pad).view(B, d, k * k, H, W)
        inside = F.unfold(
            torch.ones(1, 1, H, W, device=f.device, dtype=f.dtype), k, padding=pad
        ).view(1, k * k, H, W)
        dist2 = (fu - f.unsqueeze(2)).pow(2).sum(1)  # (B, K*K, H, W)
        w = torch.exp(-a * dist2) * inside
        centre = (k * k) // 2
        w = torch.cat([w[:, :centre], c, w[:, centre + 1 :]], dim=1)
        return w / w.sum(dim=1, keepdim=True).clamp(min=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        w = self.weights_from(*self.predict(x))
        k, pad = self.kernel, self.kernel // 2
        xu = F.unfold(x.float(), k, padding=pad).view(B, C, k * k, H, W)
        return (xu * w.unsqueeze(1)).sum(2).to(x.dtype)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}"


class ContextGCN(nn.Module):
    """Residual GCN over the top-``nodes`` local features.

    ``forward(x (B, C, H, W), score (B, H, W))`` → pooled refined nodes ``(B, C)``.
    Node i's neighbours are weighted by ``exp(−‖p_i − p_j‖² / 2σ²) · relu(cos(x_i, x_j))``
    (positions in [0, 1]), rows normalised; each layer is ``X ← X + relu(Â X W₁) W₂``.
    Everything is computed from pairwise terms, so permuting the nodes permutes the output.
    """

    def __init__(
        self,
        channels: int,
        nodes: int = 64,
        layers: int = 2,
        hidden: int = 256,
        sigma: float = 0.25,
    ) -> None:
        super().__init__()
        self.nodes = nodes
        self.sigma = sigma
        self.layers = nn.ModuleList(
            nn.Sequential(
                nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels)
            )
            for _ in range(layers)
        )
        self.gamma = nn.Parameter(torch.tensor(0.1))

    @staticmethod
    def adjacency(x: torch.Tensor, pos: torch.Tensor, sigma: float) -> torch.Tensor:
        """``x (B, K, C)``, ``pos (B, K, 2)`` → row-normalised ``(B, K, K)``."""
        xn = F.normalize(x, dim=-1)
        sim = torch.relu(xn @ xn.transpose(1, 2))
        d2 = torch.cdist(pos, pos).pow(2)
        a = sim * torch.exp(-d2 / (2 * sigma * sigma))
        return a / a.sum(-1, keepdim=True).clamp(min=1e-12)

    def refine(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """Node features ``(B, K, C)`` and positions ``(B, K, 2)`` → refined ``(B, K, C)``."""
        a = self.adjacency(x, pos, self.sigma)
        for layer in self.layers:
            x = x + layer(a @ x)
        return x

    def select(self, x: torch.Tensor, score: torch.Tensor):
        """Top-K nodes: features ``(B, K, C)`` and normalised positions ``(B, K, 2)``."""
        _, C, H, W = x.shape
        k = min(self.nodes, H * W)
        idx = score.flatten(1).topk(k, dim=1).indices  # (B, K)
        feats = x.flatten(2).transpose(1, 2).gather(1, idx[..., None].expand(-1, -1, C))
        row = torch.div(idx, W, rounding_mode="floor")
        ys = row.float() / max(H - 1, 1)
        # idx - row * W, not idx % W: the same integers, but the ONNX exporter cannot
        # translate ``%`` by a size that varies with the photo
        xs = (idx - row * W).float() / max(W - 1, 1)
        return feats, torch.stack([xs, ys], dim=-1)

    def forward(self, x: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
        feats, pos = self.select(x.float(), score.float())
        refined = self.refine(feats, pos)
        return self.gamma * gem(refined.transpose(1, 2).unsqueeze(-1))  # (B, C)

    def extra_repr(self) -> str:
        return f"nodes={self.nodes}, sigma={self.sigma}"


@dataclass(frozen=True)
class SpatialParams:
    """Config switches shared by every architecture (``arch_params``)."""

    smoothing: bool = False
    smoothing_kernel: int = 3
    gcn: bool = False
    gcn_nodes: int = 64
    gcn_layers: int = 2


def build_context(
    channels: int, p: SpatialParams
) -> tuple[LearnableSmoothing | None, ContextGCN | None]:
    """The modules the switches ask for (None when off, so default models are unchanged)."""
    smooth = LearnableSmoothing(channels, p.smoothing_kernel) if p.smoothing else None
    gcn = ContextGCN(channels, p.gcn_nodes, p.gcn_layers) if p.gcn else None
    return smooth, gcn


def pool_with_context(
    f: torch.Tensor,
    score: torch.Tensor,
    pool: nn.Module,
    smooth: LearnableSmoothing | None,
    gcn: ContextGCN | None,
) -> torch.Tensor:
    """Optional smoothing, pooling, optional GCN term: ``(B, C, H, W)``, ``(B, H, W)`` →
    ``(B, C)``. With both switches off this is exactly ``pool(f)``."""
    if smooth is not None:
        f = smooth(f)
    pooled = pool(f)
    if gcn is not None:
        pooled = pooled + gcn(f, score)
    return pooled
