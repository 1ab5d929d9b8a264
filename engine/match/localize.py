"""Localization by geometry: where the clicked (or boxed) part of the query lies in a result.

A verified match carries a homography H from the query to the result and its inlier
correspondences. For a box (or the whole query) the outline is the box's corners through H.
For a click, the inliers whose query point lies near the click pick the object: the convex
hull of those query points, through H, is the outline in the result. Confidence grows with
the number of inliers that support it; fewer than ``MIN_SUPPORT`` near the click means the
geometry cannot say where the clicked thing is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.match.verify import Verification, box_quad, project, quad_is_sane

#: inliers near a click needed to outline it
MIN_SUPPORT = 5
#: a click's neighbourhood, as a fraction of the query region's diagonal
CLICK_RADIUS = 0.2
#: inliers at which confidence reaches 1
FULL_SUPPORT = 30


@dataclass
class Outline:
    """``polygon (n, 2)`` and ``box (x0, y0, x1, y1)`` in the result's original pixels."""

    polygon: np.ndarray
    box: tuple[float, float, float, float]
    confidence: float
    support: int


def _box_of(poly: np.ndarray, size: tuple[float, float]) -> tuple[float, float, float, float]:
    w, h = size
    x0, y0 = np.clip(poly.min(axis=0), 0, [w, h])
    x1, y1 = np.clip(poly.max(axis=0), 0, [w, h])
    return float(x0), float(y0), float(x1), float(y1)


def outline(
    v: Verification,
    region,
    photo_size: tuple[float, float],
    point: tuple[float, float] | None = None,
) -> Outline | None:
    """The outline in the result of ``region`` (the searched box, original query pixels) or,
    with ``point``, of the object under the click. None when the geometry cannot tell."""
    if not v.verified or v.H is None or v.q_xy is None:
        return None
    if point is None:
        poly = project(v.H, box_quad(region))
        if not quad_is_sane(poly, photo_size):
            return None
        conf = min(1.0, v.inliers / FULL_SUPPORT)
        return Outline(poly, _box_of(poly, photo_size), conf, v.inliers)
    diag = float(np.hypot(region[2] - region[0], region[3] - region[1]))
    d = np.hypot(v.q_xy[:, 0] - point[0], v.q_xy[:, 1] - point[1])
    near = v.q_xy[d <= CLICK_RADIUS * diag]
    if len(near) < MIN_SUPPORT:
        return None
    hull = cv2.convexHull(near.astype(np.float32)).reshape(-1, 2)
    if len(hull) < 3 or cv2.contourArea(hull) < 1.0:
        return None
    poly = project(v.H, hull)
    if not np.isfinite(poly).all():
        return None
    conf = min(1.0, len(near) / FULL_SUPPORT)
    return Outline(poly, _box_of(poly, photo_size), conf, len(near))


def match_heat(points: np.ndarray, size: tuple[int, int], sigma: float = 0.04) -> np.ndarray:
    """ "Where it matched": density of verified match points ``(n, 2)`` over a photo of
    ``size = (W, H)``, as ``(h, w) float32`` in [0, 1] at most 256 px on its long side
    (``engine.network.seed.heatmap`` upsamples it). ``sigma`` is a fraction of the long side."""
    w, h = size
    f = 256.0 / max(w, h, 1)
    hw = (max(1, round(h * f)), max(1, round(w * f)))
    heat = np.zeros(hw, np.float32)
    if len(points):
        xy = np.clip(np.round(np.asarray(points, np.float32) * f), 0, [hw[1] - 1, hw[0] - 1])
        np.add.at(heat, (xy[:, 1].astype(int), xy[:, 0].astype(int)), 1.0)
        s = max(1.0, sigma * max(hw))
        heat = cv2.GaussianBlur(heat, (0, 0), s)
        heat /= max(float(heat.max()), 1e-12)
    return heat
