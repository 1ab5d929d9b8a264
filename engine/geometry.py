"""Geometric verification with local features: SIFT (as RootSIFT) + ratio test + RANSAC.

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

from .errors import BadImageError
from .imageio import PhotoSource, load_photo

#: long side the local features are computed at
LOCAL_MAX_SIDE = 640
MAX_FEATURES = 1500
#: smaller regions are enlarged to this long side before detection
MIN_SIDE = 320
RATIO = 0.8
REPROJ_PX = 8.0
#: pairs with at least this many inliers count as showing the same object or place
MIN_INLIERS = 15


@dataclass
class LocalFeatures:
    """``xy (n, 2) float32`` keypoints in original photo coordinates, ``desc (n, 128)``."""

    xy: np.ndarray
    desc: np.ndarray

    def __len__(self) -> int:
        return len(self.xy)


@dataclass
class Verification:
    inliers: int
    matches: int
    homography: np.ndarray | None


_sift_local = threading.local()


def _sift():
    if not hasattr(_sift_local, "sift"):
        # a low contrast threshold: flat, low-contrast photos (and small query boxes) still
        # get keypoints; nfeatures keeps the strongest ones
        _sift_local.sift = cv2.SIFT_create(nfeatures=MAX_FEATURES, contrastThreshold=0.01)
    return _sift_local.sift


def local_features(src: PhotoSource, box=None, max_side: int = LOCAL_MAX_SIDE) -> LocalFeatures:
    """RootSIFT features of a photo (or of ``box`` in it). Raises ``BadImageError``."""
    photo = load_photo(src, max_side, box)
    gray = np.asarray(photo.image.convert("L"))
    up = 1.0
    if max(gray.shape) < MIN_SIDE:  # a small region: enlarge so SIFT's scales fit
        up = MIN_SIDE / max(gray.shape)
        gray = cv2.resize(
            gray,
            (round(gray.shape[1] * up), round(gray.shape[0] * up)),
            interpolation=cv2.INTER_CUBIC,
        )
    kps, desc = _sift().detectAndCompute(gray, None)
    if desc is None or not kps:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32))
    desc = desc.astype(np.float32)
    desc /= np.maximum(desc.sum(axis=1, keepdims=True), 1e-7)  # RootSIFT: L1, then sqrt
    desc = np.sqrt(desc)
    xy = np.array([k.pt for k in kps], np.float32) / (photo.scale * up)
    if photo.box is not None:
        xy += np.array(photo.box[:2], np.float32)
    return LocalFeatures(xy, desc)


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
            f = LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32))
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
