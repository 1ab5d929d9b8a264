"""One search pipeline for the library and for evaluation: shortlist, verify, fuse.

``rank_database`` takes, for every database photo, a global similarity (cosine of the
network's descriptors) and/or a local similarity (ASMK* over RootSIFT codes), and a function
that verifies one photo geometrically. It

1. scores every photo with ``base = local + global_weight · global`` (one of them for the
   ``local`` and ``global`` pipelines),
2. verifies the ``verify_top`` best by ``base`` in one call of ``verify(positions)`` (the global
   pipeline passes 0 unless asked),
3. orders verified photos first, by inliers, then the rest by ``base``.

``score`` is readable on its own: a verified photo scores 0.5 + 0.5 · n / (n + 20) for n
inliers (0.5 and above), any other photo 0.5 · base / (1 + global_weight) (below 0.5).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.match.verify import Verification

PIPELINES = ("fused", "local", "global")
#: photos verified geometrically per query
VERIFY_TOP = 50
#: weight of the global cosine next to the local similarity in the fused pipeline, chosen on a
#: generated tuning set (`synth eval --seed 2026`, never the real-photo benchmark): with the
#: bundled network, 0.05 kept Medium mAP at the local pipeline's (73.8 vs 73.0), 0.15 lost 3
#: points, 0.5 lost 6
GLOBAL_WEIGHT = 0.05


def learned_from_photos(model) -> bool:
    """Whether a network's descriptor carries signal on real photos: trained on labelled
    photos (its checkpoint records classes) or built on ImageNet weights. The bundled default
    network learned generated objects only; on the real-photo benchmark fusing its cosine at
    this weight cost 19 points of Medium mAP against the local features alone (README), so
    such a network is shown (heatmaps, ``global_score``) but not fused."""
    extra = getattr(model, "checkpoint_extra", None) or {}
    if int(extra.get("classes", 0) or 0) > 0:
        return True
    backbone = getattr(model, "backbone", None)
    return bool(getattr(backbone, "loaded_imagenet", False))


INLIER_HALF = 20.0


@dataclass
class Ranking:
    """``order (N,)`` database positions best first; ``score``, ``global_score``,
    ``local_score`` ``(N,) float32`` by position; ``checks`` the verifications done."""

    order: np.ndarray
    score: np.ndarray
    global_score: np.ndarray
    local_score: np.ndarray
    checks: dict[int, Verification] = field(default_factory=dict)

    def verified(self, pos: int) -> bool:
        v = self.checks.get(int(pos))
        return bool(v is not None and v.verified)

    @property
    def matches(self) -> int:
        return sum(1 for v in self.checks.values() if v.verified)


def verified_score(inliers: int) -> float:
    return 0.5 + 0.5 * inliers / (inliers + INLIER_HALF)


def rank_database(
    n: int,
    pipeline: str = "fused",
    global_sims: np.ndarray | None = None,
    local_sims: np.ndarray | None = None,
    verify: Callable[[list[int]], Sequence[Verification]] | None = None,
    verify_top: int = VERIFY_TOP,
    global_weight: float | None = None,
    allowed: np.ndarray | None = None,
) -> Ranking:
    """Rank ``n`` database photos (see the module docstring). ``allowed (n,) bool`` keeps a
    subset (a folder filter, or all but the query itself); the others come last."""
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be one of {PIPELINES}, not {pipeline!r}")
    if global_weight is None:
        global_weight = GLOBAL_WEIGHT
    g = np.zeros(n, np.float32) if global_sims is None else np.nan_to_num(global_sims, nan=-1.0)
    ls = np.zeros(n, np.float32) if local_sims is None else np.asarray(local_sims, np.float32)
    if pipeline == "global":
        base, wsum = g.astype(np.float32), 1.0
    elif pipeline == "local" or global_sims is None:
        base, wsum = ls.copy(), 1.0
    else:
        base, wsum = ls + np.float32(global_weight) * g, 1.0 + global_weight
    score = (0.5 * np.clip(base, 0, None) / wsum).astype(np.float32)
    key = base.astype(np.float64)
    if allowed is not None:
        key = np.where(allowed, key, -np.inf)
    prelim = np.lexsort((np.arange(n), -key))
    checks: dict[int, Verification] = {}
    if verify is not None and verify_top > 0:
        short = [int(p) for p in prelim[: min(verify_top, n)] if allowed is None or allowed[p]]
        for pos, v in zip(short, verify(short), strict=True):
            checks[pos] = v
            if v.verified:
                score[pos] = verified_score(v.inliers)
    inl = np.zeros(n, np.int64)
    ver = np.zeros(n, bool)
    for pos, v in checks.items():
        inl[pos], ver[pos] = v.inliers, v.verified
    tier = np.where(ver, 0, 1)
    if allowed is not None:
        tier = np.where(allowed, tier, 2)
    order = np.lexsort((np.arange(n), -key, -np.where(ver, inl, 0), tier))
    return Ranking(order, score, g.astype(np.float32), ls, checks)
