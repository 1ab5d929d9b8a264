"""Localization by geometry: where the clicked (or boxed) part of the query lies in a result.

A verified match carries a homography H from the query to the result and its inlier
correspondences. For a box (or the whole query) the outline is the box's corners through H.
For a click, the inliers whose query point lies near the click pick the object: the convex
hull of those query points, through H, is the outline in the result. Confidence grows with
the number of inliers that support it; fewer than ``MIN_SUPPORT`` near the click means the
geometry cannot say where the clicked thing is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from engine.errors import VisualSearchError
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


#: a seed-method outline is drawn only at this confidence or above
SEED_MIN_SCORE = 0.5


@dataclass
class Location:
    """The object in one result.

    method: ``geometry`` (the verified transform), ``seed`` (network patch features) or None
    (not found here); box ``(x0, y0, x1, y1)`` and polygon ``[[x, y], ...]`` in the result's
    pixels; confidence in [0, 1]; reason: why nothing was found.
    """

    file_id: int
    path: str
    method: str | None
    box: tuple[float, float, float, float] | None
    polygon: list[list[float]] | None
    confidence: float
    reason: str | None = None

    @property
    def found(self) -> bool:
        return self.method is not None

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "found": self.found,
            "method": self.method,
            "box": None if self.box is None else [round(v, 1) for v in self.box],
            "polygon": self.polygon,
            "confidence": round(self.confidence, 3),
            "reason": self.reason,
        }


#: the network's seed method for one photo: ``seed(point) -> (box, confidence)``; it may raise
#: ``VisualSearchError`` with a reason
SeedFn = Callable[[tuple[float, float] | None], tuple[tuple[float, float, float, float], float]]


def locate(
    file_id: int,
    path: str,
    v: Verification,
    region,
    photo_size: tuple[float, float],
    point: tuple[float, float] | None = None,
    seed: SeedFn | None = None,
) -> Location:
    """The query region (or the object under ``point``) in one photo, from its verification:
    by geometry; in a verified photo where the click has too few inliers around it, by the
    network's seed method when confident; otherwise "not found in this photo"."""
    o = outline(v, region, photo_size, point) if v.verified else None
    if o is not None:
        poly = o.polygon.round(1).tolist()
        return Location(file_id, path, "geometry", o.box, poly, o.confidence)
    # the network's patch features only localise inside a photo the geometry verified (they
    # score high on any photo, so alone they are no evidence that the object is there)
    if v.verified and seed is not None:
        try:
            box, score = seed(point)
        except VisualSearchError as e:
            return Location(file_id, path, None, None, None, 0.0, str(e))
        if score >= SEED_MIN_SCORE:
            x0, y0, x1, y1 = (float(c) for c in box)
            poly = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
            return Location(file_id, path, "seed", (x0, y0, x1, y1), poly, float(score))
    why = "no geometric match" if not v.verified else "no matching features near the click"
    return Location(file_id, path, None, None, None, 0.0, f"not found in this photo ({why})")
