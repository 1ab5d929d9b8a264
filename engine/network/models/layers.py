"""Small building blocks shared by the retrieval models.

Pure tensor functions first (``gem``, ``minmax_norm``...), then thin ``nn.Module`` wrappers.
Shapes use ``B`` batch, ``C`` channels, ``H, W`` feature-map height and width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------- functions


def gem(x: torch.Tensor, p: torch.Tensor | float = 3.0, eps: float = 1e-6) -> torch.Tensor:
    """Generalised-mean pooling. ``x (B, C, H, W)`` → ``(B, C)``; computed in float32."""
    x = x.float()
    if isinstance(p, torch.Tensor):
        p = p.float()
    return x.clamp(min=eps).pow(p).mean(dim=(-2, -1)).pow(1.0 / p)


def l2n(x: torch.Tensor, dim: int = -1, eps: float = 1e-6) -> torch.Tensor:
    """L2-normalise along ``dim``."""
    return x / x.norm(p=2, dim=dim, keepdim=True).clamp(min=eps)


def minmax_norm(a: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Min-max normalise each map of ``a (B, H, W)`` (or ``(B, 1, H, W)``) to [0, 1] (η)."""
    flat = a.flatten(1)
    lo = flat.min(dim=1, keepdim=True).values
    hi = flat.max(dim=1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp(min=eps)).view_as(a)


def convex_weights(alpha: torch.Tensor) -> torch.Tensor:
    """Learnable convex-fusion weights: ``softplus(α_i) / Σ_j softplus(α_j)``."""
    w = F.softplus(alpha)
    return w / w.sum()


def softplus_inverse(y: float) -> float:
    """α such that ``softplus(α) = y`` (used to initialise fusion weights to 1)."""
    return math.log(math.expm1(y))


def clipped_normal_mean(mean: float, std: float, lo: float = 0.0, hi: float = 1.0) -> float:
    """E[clip(X, lo, hi)] for X ~ N(mean, std²), in closed form."""
    if std <= 0:
        return min(max(mean, lo), hi)

    def cdf(z: float) -> float:
        return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))

    def pdf(z: float) -> float:
        return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

    a, b = (lo - mean) / std, (hi - mean) / std
    inside = mean * (cdf(b) - cdf(a)) - std * (pdf(b) - pdf(a))
    return lo * cdf(a) + inside + hi * (1.0 - cdf(b))


# --------------------------------------------------------------------------- modules


class GeM(nn.Module):
    """GeM pooling with a (by default learnable) exponent p. ``(B, C, H, W)`` → ``(B, C)``."""

    def __init__(self, p: float = 3.0, learnable: bool = True, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        if learnable:
            self.p = nn.Parameter(torch.tensor(float(p)))
        else:
            self.register_buffer("p", torch.tensor(float(p)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gem(x, self.p, self.eps)

    def extra_repr(self) -> str:
        return f"p={float(self.p.detach()):.4f}, eps={self.eps}"


class Whitening(nn.Module):
    """Learned whitening: a fully-connected layer with bias, computed in float32.

    Initialised orthogonally (identity when square) so that an untrained model behaves as plain
    pooling rather than a random projection.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim, bias=True)
        with torch.no_grad():
            if in_dim == out_dim:
                self.fc.weight.copy_(torch.eye(out_dim))
            else:
                nn.init.orthogonal_(self.fc.weight)
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.float(), self.fc.weight.float(), self.fc.bias.float())


class SqueezeExcitation(nn.Module):
    """Squeeze-and-Excitation channel gating (f^e). ``(B, C, H, W)`` → same shape."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 8)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class SelectiveKernel(nn.Module):
    """SKNet selective context (f^c) with a learnable convex fusion.

    Branch i is a grouped 3x3 convolution with dilation i+1 (receptive fields 3, 5, ...),
    ``U_i (B, C, H, W)``. SKNet's first element-wise sum ``U = Σ U_i`` is replaced by
    ``U = Σ w_i U_i`` with ``w = softplus(α) / Σ softplus(α)``; then
    ``s = GAP(U)`` → ``z = ReLU(BN(FC(s)))`` → per-branch logits → softmax over branches →
    ``V = Σ a_i ⊙ U_i``.
    """

    def __init__(
        self,
        channels: int,
        branches: int = 2,
        groups: int = 32,
        reduction: int = 16,
        min_dim: int = 32,
    ) -> None:
        super().__init__()
        while channels % groups:
            groups //= 2
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(
                    channels, channels, 3, padding=i + 1, dilation=i + 1, groups=groups, bias=False
                ),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            )
            for i in range(branches)
        )
        self.alpha = nn.Parameter(torch.full((branches,), softplus_inverse(1.0)))
        d = max(channels // reduction, min_dim)
        self.squeeze = nn.Sequential(
            nn.Linear(channels, d, bias=False), nn.BatchNorm1d(d), nn.ReLU(inplace=True)
        )
        self.select = nn.ModuleList(nn.Linear(d, channels) for _ in range(branches))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = torch.stack([b(x) for b in self.branches], dim=1)  # (B, M, C, H, W)
        w = convex_weights(self.alpha).to(u.dtype)
        fused = (u * w.view(1, -1, 1, 1, 1)).sum(dim=1)  # (B, C, H, W)
        z = self.squeeze(fused.mean(dim=(2, 3)))  # (B, d)
        logits = torch.stack([fc(z) for fc in self.select], dim=1)  # (B, M, C)
        a = logits.softmax(dim=1).to(u.dtype)
        return (u * a[..., None, None]).sum(dim=1)

    def extra_repr(self) -> str:
        return f"fusion_weights={convex_weights(self.alpha.detach()).tolist()}"


class _HardMaskSTE(torch.autograd.Function):
    """Hard mask in the forward pass, a steep-sigmoid gradient to ``a`` in the backward pass."""

    @staticmethod
    def forward(ctx, a, beta, tau: float, temperature: float):  # type: ignore[override]
        ctx.save_for_backward(a, beta)
        ctx.tau, ctx.temperature = tau, temperature
        return torch.where(a >= tau, torch.ones_like(a), beta)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        a, beta = ctx.saved_tensors
        s = torch.sigmoid((a - ctx.tau) / ctx.temperature)
        da = grad * (1.0 - beta) * s * (1.0 - s) / ctx.temperature
        return da, None, None, None


class AttentionalLocalization(nn.Module):
    """CiDeR's attentional localization (f^ℓ), eqs 1–5.

    ``A = η(ζ(conv1x1(F)))`` with ζ = softplus and η = per-image min-max to [0, 1];
    ``M_i(p) = 1 if A(p) ≥ τ_i else β``; ``F^ℓ = Σ_i w_i (M_i ⊙ F) / Σ_i w_i`` with
    ``w_i = softplus(α_i)``. During training β is drawn per position from
    ``clip(N(beta_mean, beta_std²), 0, 1)``; in eval mode β is the fixed ``beta_eval``
    (default: the mean of that clipped distribution, so the expected mask matches training).

    The threshold has no derivative, so on its own it would leave the 1x1 convolution
    untrained; the backward pass uses the derivative of a steep sigmoid around τ_i
    (straight-through), while the forward values are exactly the hard masks above.

    Input ``F (B, C, H, W)`` → ``(F^ℓ (B, C, H, W), A (B, H, W))``.
    """

    def __init__(
        self,
        channels: int,
        thresholds: tuple[float, ...] = (0.25, 0.5),
        beta_mean: float = 0.1,
        beta_std: float = 0.9,
        beta_eval: float | None = None,
        ste_temperature: float = 0.05,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 1)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.beta_mean, self.beta_std = float(beta_mean), float(beta_std)
        self.beta_eval = (
            clipped_normal_mean(beta_mean, beta_std) if beta_eval is None else float(beta_eval)
        )
        self.ste_temperature = float(ste_temperature)
        self.alpha = nn.Parameter(torch.full((len(self.thresholds),), softplus_inverse(1.0)))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """``A (B, H, W)`` in [0, 1] (eq. 1), float32."""
        return minmax_norm(F.softplus(self.conv(x).float()).squeeze(1))

    def masks(self, a: torch.Tensor) -> torch.Tensor:
        """``M (T, B, H, W)`` for attention ``a (B, H, W)`` (eqs 2–3)."""
        out = []
        for tau in self.thresholds:
            if self.training:
                beta = (torch.randn_like(a) * self.beta_std + self.beta_mean).clamp(0.0, 1.0)
            else:
                beta = torch.full_like(a, self.beta_eval)
            out.append(_HardMaskSTE.apply(a, beta, tau, self.ste_temperature))
        return torch.stack(out)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.attention(x)
        m = self.masks(a).to(x.dtype)  # (T, B, H, W)
        w = F.softplus(self.alpha).to(x.dtype)  # (T,)
        fused = (w.view(-1, 1, 1, 1, 1) * m.unsqueeze(2) * x.unsqueeze(0)).sum(0) / w.sum()
        return fused, a

    def extra_repr(self) -> str:
        return (
            f"thresholds={self.thresholds}, beta~clip(N({self.beta_mean}, {self.beta_std}²)), "
            f"beta_eval={self.beta_eval:.4f}"
        )


class NonLocal(nn.Module):
    """Non-local spatial attention *without* the residual connection.

    ``θ, φ, g`` are 1x1 convolutions to ``inner`` channels; ``y = softmax(θᵀφ) g`` over all
    positions, then ``w`` (1x1) maps back. ``(B, C, H, W)`` → ``(B, C, H, W)``.
    """

    def __init__(self, channels: int, inner: int) -> None:
        super().__init__()
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.w = nn.Conv2d(inner, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        q = self.theta(x).flatten(2).transpose(1, 2)  # (B, N, c)
        k = self.phi(x).flatten(2)  # (B, c, N)
        v = self.g(x).flatten(2).transpose(1, 2)  # (B, N, c)
        attn = torch.bmm(q, k).softmax(dim=-1)  # (B, N, N)
        y = torch.bmm(attn, v).transpose(1, 2).reshape(B, -1, H, W)  # (B, c, H, W)
        return self.w(y)


class LALM(nn.Module):
    """UGALR's local attention module on block-3 features ``X (B, C, H, W)``.

    reduce (1x1 conv + ReLU) → spatial attention (non-local, no residual) → channel attention
    (1x1 conv back to C) → softplus = ``G (B, C, H, W)``; returns ``D = G ⊙ X`` and ``G``.
    """

    def __init__(self, channels: int, reduce_dim: int = 512, inner_dim: int = 256) -> None:
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(channels, reduce_dim, 1), nn.ReLU(inplace=True))
        self.spatial = NonLocal(reduce_dim, inner_dim)
        self.channel = nn.Conv2d(reduce_dim, channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = F.softplus(self.channel(self.spatial(self.reduce(x))))
        return g * x, g
