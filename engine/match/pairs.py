"""Geometric verification on photos: RootSIFT (``engine.match.describe``) + ratio test + RANSAC.

One component, two uses: re-ranking the top results of a search or an evaluation (global
descriptors rank, local features check), and the class-overlap audit between a training set
and an evaluation set. The score of a pair is the number of RANSAC homography inliers.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engine.errors import BadImageError
from engine.match.describe import LocalFeatures
from engine.match.describe import local_features as _local_features
from engine.photo.decode import PhotoSource

#: long side the local features are computed at
LOCAL_MAX_SIDE = 640
MAX_FEATURES = 1500
RATIO = 0.8
REPROJ_PX = 8.0
#: pairs with at least this many inliers count as showing the same object or place
MIN_INLIERS = 15


@dataclass
class Verification:
    inliers: int
    matches: int
    homography: np.ndarray | None


def local_features(src: PhotoSource, box=None, max_side: int = LOCAL_MAX_SIDE) -> LocalFeatures:
    """RootSIFT features of a photo (or of ``box`` in it). Raises ``BadImageError``."""
    return _local_features(src, box, max_side, MAX_FEATURES)


def verify(
    a: LocalFeatures, b: LocalFeatures, ratio: float = RATIO, reproj: float = REPROJ_PX
) -> Verification:
    """Ratio-test matches from ``a`` to ``b`` and the inliers of a RANSAC homography."""
    if len(a) < 2 or len(b) < 2:
        return Verification(0, 0, None)
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    pairs = matcher.knnMatch(a.desc, b.desc, k=2)
    good = [m for m, n in (p for p in pairs if len(p) == 2) if m.distance < ratio * n.distance]
    if len(good) < 4:
        return Verification(0, len(good), None)
    src = a.xy[[m.queryIdx for m in good]]
    dst = b.xy[[m.trainIdx for m in good]]
    H, mask = cv2.findHomography(src, dst, cv2.RANSAC, reproj, maxIters=2000, confidence=0.995)
    if H is None or mask is None:
        return Verification(0, len(good), None)
    return Verification(int(mask.sum()), len(good), H)


class FeatureCache:
    """Local features per (path, box), LRU, thread-safe; bad photos give empty features."""

    def __init__(self, capacity: int = 2048) -> None:
        self.capacity = capacity
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, src: PhotoSource, box=None) -> LocalFeatures:
        key = (
            os.fspath(src) if isinstance(src, (str, os.PathLike)) else id(src),
            tuple(box) if box else None,
        )
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        try:
            f = local_features(src, box)
        except BadImageError:
            f = LocalFeatures.empty()
        with self._lock:
            self._data[key] = f
            if len(self._data) > self.capacity:
                self._data.popitem(last=False)
        return f


def rerank_order(inliers: Sequence[int], min_inliers: int = MIN_INLIERS) -> list[int]:
    """New order of a shortlist: verified items (≥ ``min_inliers``) first by inliers, the
    rest keep their global order."""
    verified = [i for i, n in enumerate(inliers) if n >= min_inliers]
    verified.sort(key=lambda i: -inliers[i])
    return verified + [i for i, n in enumerate(inliers) if n < min_inliers]


def rerank_ranking(
    q_paths,
    boxes,
    db_paths,
    ranking: np.ndarray,
    scores: np.ndarray,
    k: int,
    cache: FeatureCache | None = None,
) -> np.ndarray:
    """Re-rank the top ``k`` of each row of ``ranking (nq, ndb)`` by inlier count."""
    cache = cache or FeatureCache()
    out = ranking.copy()
    for i, q in enumerate(q_paths):
        qf = cache.get(q, boxes[i] if boxes else None)
        top = ranking[i, :k]
        inl = [verify(qf, cache.get(db_paths[j])).inliers for j in top]
        out[i, :k] = top[rerank_order(inl)]
    return out
