"""Training losses (no model code here): instance discrimination for generated objects.

ArcFace and the linear classifiers that turn embeddings into class logits are in
:mod:`engine.training.heads`; cross-entropy on them is ``torch.nn.functional.cross_entropy``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def multi_positive_infonce(z: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """Instance discrimination with several views per instance.

    ``z (N, D)`` unit descriptors, ``y (N,)`` instance labels. For each anchor i, with
    positives P(i) (same label, not i) and all others A(i):
    ``L_i = −1/|P(i)| Σ_{p∈P(i)} log( exp(z_i·z_p/τ) / Σ_{a∈A(i)} exp(z_i·z_a/τ) )``,
    averaged over anchors that have a positive.
    """
    z = z.float()
    sim = z @ z.T / temperature
    n = len(z)
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, float("-inf"))
    pos = (y[:, None] == y[None, :]) & ~eye
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    log_prob = log_prob.masked_fill(eye, 0.0)
    npos = pos.sum(1)
    has = npos > 0
    per_anchor = -(log_prob * pos).sum(1)[has] / npos[has]
    return per_anchor.mean()


@torch.no_grad()
def retrieval_accuracy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of descriptors whose nearest other descriptor in the batch has their label."""
    sim = F.linear(z.float(), z.float())
    sim.fill_diagonal_(float("-inf"))
    return (y[sim.argmax(1)] == y).float().mean()


def contrastive_pairs(z: torch.Tensor, y: torch.Tensor, margin: float) -> torch.Tensor:
    """The contrastive loss of SfM-120k training (Radenović, Tolias, Chum), over the pairs of
    a batch. ``z (N, D)`` unit descriptors; ``y (N,)`` labels, -1 for a photo of no class
    (a negative only). With d the Euclidean distance of two descriptors:
    ``½ d²`` for a pair of the same class and ``½ max(0, τ − d)²`` for a pair of different
    classes; two unlabelled photos are never paired (they may show the same thing).
    Averaged over the positive pairs and over the negative pairs, then summed."""
    z = z.float()
    d = torch.cdist(z, z).clamp_min(0)
    n = len(z)
    upper = torch.ones(n, n, dtype=torch.bool, device=z.device).triu(1)
    lab = y >= 0
    same = (y[:, None] == y[None, :]) & lab[:, None] & lab[None, :] & upper
    diff = (y[:, None] != y[None, :]) & (lab[:, None] | lab[None, :]) & upper
    loss = z.new_zeros(())
    if same.any():
        loss = loss + 0.5 * d[same].pow(2).mean()
    if diff.any():
        loss = loss + 0.5 * (margin - d[diff]).clamp_min(0).pow(2).mean()
    return loss
