"""The seed method (third paper): where an object is, from the network's patch features and
without box labels.

* ``discover``: unsupervised object discovery (LOST-style): patch-similarity graph; the seed
  is the patch with the lowest degree (objects are smaller than background, so their patches
  correlate with fewer others); the seed grows to the low-degree patches similar to it; the
  connected component holding the seed is the mask, its extent the box.
* ``Localizer``: click-to-localize. The clicked point picks the seed patch of the query; the
  seed and its few most similar query patches form a prototype; in each result photo every
  patch is compared with it, the best patch grows to the patches close enough to the best
  score, and the connected component gives mask, box and a confidence. Results are cached
  per (query, click, result).

Patch features are the ``features (C, h, w)`` the extractor already returns.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from engine.errors import VisualSearchError

#: photos whose pixel standard deviation (0-255) is below this are blank
BLANK_STD = 2.0

# --------------------------------------------------------------------------- masks


@dataclass
class Localization:
    """An object found in a photo.

    mask: ``(h, w) bool`` at feature resolution; box: ``(x0, y0, x1, y1)`` in photo pixels;
    score: confidence in [0, 1]; seed: the ``(row, col)`` patch it grew from.
    """

    mask: np.ndarray
    box: tuple[float, float, float, float]
    score: float
    seed: tuple[int, int]


def _rows(features: np.ndarray) -> np.ndarray:
    """``(C, h, w)`` → ``(h*w, C)``."""
    f = np.asarray(features, np.float32)
    if f.ndim != 3 or f.shape[1] == 0 or f.shape[2] == 0:
        raise VisualSearchError("patch features must be (C, h, w)")
    return f.reshape(f.shape[0], -1).T


def _normalised_patches(features: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """``(C, h, w)`` → ``(h*w, C)`` unit rows, centred on ``mean`` (default: their own mean;
    raw ReLU features all correlate positively, centring makes similarity informative)."""
    x = _rows(features)
    x = x - (x.mean(axis=0, keepdims=True) if mean is None else mean)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-6)


def _component(mask: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    """The 4-connected component of ``mask`` that holds ``seed``."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    if not mask[seed]:
        out[seed] = True
        return out
    stack = [seed]
    out[seed] = True
    while stack:
        r, c = stack.pop()
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            rr, cc = r + dr, c + dc
            if 0 <= rr < h and 0 <= cc < w and mask[rr, cc] and not out[rr, cc]:
                out[rr, cc] = True
                stack.append((rr, cc))
    return out


def mask_box(
    mask: np.ndarray, size: tuple[int, int], offset=(0.0, 0.0)
) -> tuple[float, float, float, float]:
    """Extent of a feature-resolution mask in pixels of a region of ``size = (W, H)``."""
    h, w = mask.shape
    rows, cols = np.nonzero(mask)
    sx, sy = size[0] / w, size[1] / h
    return (
        offset[0] + cols.min() * sx,
        offset[1] + rows.min() * sy,
        offset[0] + (cols.max() + 1) * sx,
        offset[1] + (rows.max() + 1) * sy,
    )


def discover(features: np.ndarray, size: tuple[int, int], k: int = 20) -> Localization:
    """LOST-style salient-object discovery on ``features (C, h, w)`` of a photo of ``size``."""
    x = _normalised_patches(features)
    h, w = np.asarray(features).shape[1:]
    if h * w < 2:
        raise VisualSearchError("the photo is too small to localize anything (one patch)")
    sim = x @ x.T
    degree = (sim > 0).sum(axis=1)
    if np.ptp(sim) < 1e-6:
        raise VisualSearchError("the photo is blank: nothing stands out")
    seed = int(np.argmin(degree))
    k = min(k, h * w)
    low = np.argsort(degree, kind="stable")[:k]
    grow = low[sim[seed, low] > 0]
    score_map = sim[:, grow].sum(axis=1).reshape(h, w)
    mask = _component(score_map > 0, divmod(seed, w))
    conf = float(np.clip(sim[seed][mask.ravel()].mean(), 0, 1))
    return Localization(mask, mask_box(mask, size), conf, divmod(seed, w))


# --------------------------------------------------------------------------- click


def point_to_patch(
    point: tuple[float, float], size: tuple[int, int], grid: tuple[int, int]
) -> tuple[int, int]:
    """Photo pixel ``(x, y)`` → patch ``(row, col)`` of a ``grid = (h, w)`` feature map."""
    x, y = point
    W, H = size
    if not (0 <= x < W and 0 <= y < H):
        raise VisualSearchError(f"point ({x:g}, {y:g}) is outside the {W}x{H} photo")
    h, w = grid
    return min(int(y * h / H), h - 1), min(int(x * w / W), w - 1)


def shared_mean(*features: np.ndarray) -> np.ndarray:
    """Mean patch over several photos: query and result are centred in one frame."""
    return np.concatenate([_rows(f) for f in features]).mean(axis=0)


def prototype(
    features: np.ndarray, seed: tuple[int, int], neighbours: int = 3, mean: np.ndarray | None = None
) -> np.ndarray:
    """Unit prototype of the seed patch and its ``neighbours`` most similar query patches."""
    x = _normalised_patches(features, mean)
    w = np.asarray(features).shape[2]
    s = seed[0] * w + seed[1]
    order = np.argsort(-(x @ x[s]))[: neighbours + 1]
    p = x[order].mean(axis=0)
    return p / max(float(np.linalg.norm(p)), 1e-6)


def match(
    proto: np.ndarray,
    features: np.ndarray,
    size: tuple[int, int],
    rel: float = 0.75,
    mean: np.ndarray | None = None,
) -> Localization:
    """Where ``proto`` is in a photo: the best patch, grown (connected) to the patches that
    score at least ``rel`` of the way from the median to the best."""
    x = _normalised_patches(features, mean)
    h, w = np.asarray(features).shape[1:]
    s = (x @ proto).reshape(h, w)
    seed = np.unravel_index(int(np.argmax(s)), s.shape)
    best = float(s[seed])
    floor = float(np.median(s))
    mask = _component(s >= floor + rel * (best - floor), (int(seed[0]), int(seed[1])))
    # confidence: how far the object stands out of the rest of the photo
    rest = s[~mask]
    conf = float(np.clip(best - (rest.mean() if rest.size else 0.0), 0, 1))
    return Localization(mask, mask_box(mask, size), conf, (int(seed[0]), int(seed[1])))


def localize_pair(
    fq: np.ndarray,
    q_size: tuple[int, int],
    seed: tuple[int, int],
    fr: np.ndarray,
    r_size: tuple[int, int],
) -> Localization:
    """The object at patch ``seed`` of the query, found in a result (both centred together)."""
    if fr.shape[1] * fr.shape[2] < 2:
        raise VisualSearchError("the result photo is too small to localize in (one patch)")
    mu = shared_mean(fq, fr)
    return match(prototype(fq, seed, mean=mu), fr, r_size, mean=mu)


class Localizer:
    """Click-to-localize over an ``Extractor``; results cached per (query, click, result)."""

    def __init__(self, extractor, capacity: int = 256) -> None:
        self.ex = extractor
        self._features: OrderedDict = OrderedDict()
        self._results: OrderedDict = OrderedDict()
        self.capacity = capacity
        self._lock = threading.Lock()

    def _lru_get(self, cache: OrderedDict, key, make):
        with self._lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        value = make()
        with self._lock:
            cache[key] = value
            while len(cache) > self.capacity:
                cache.popitem(last=False)
        return value

    def features(self, src, box=None):
        """``(features (C, h, w), size (W, H) of the region, offset (x, y))`` of a photo."""
        f, size, offset, _ = self._entry(src, box)
        return f, size, offset

    def _entry(self, src, box=None):
        key = (str(src), tuple(box) if box else None)

        def make():
            prepared = self.ex.prepare(src, box)
            # a photo of one flat colour has nothing to find, whatever the network makes of
            # its borders
            blank = float(np.asarray(prepared.pixels, np.float32).std()) < BLANK_STD
            out = self.ex.run([prepared], with_features=True)[0]
            bx = out.box
            size = (bx[2] - bx[0], bx[3] - bx[1]) if bx else out.original_size
            offset = (bx[0], bx[1]) if bx else (0.0, 0.0)
            return out.features, size, offset, blank

        return self._lru_get(self._features, key, make)

    def _check_blank(self, src, box=None) -> None:
        if self._entry(src, box)[3]:
            raise VisualSearchError(f"{src}: the photo is blank, there is nothing to find")

    def discover(self, src, box=None) -> Localization:
        """The salient object of a photo, found without a click."""
        self._check_blank(src, box)
        f, size, offset, _ = self._entry(src, box)
        found = discover(f, size)
        b = found.box
        found.box = (b[0] + offset[0], b[1] + offset[1], b[2] + offset[0], b[3] + offset[1])
        return found

    def seed_patch(self, query, point=None, box=None) -> tuple[int, int]:
        """The query patch a click picks or, without one, the salient object's seed."""
        fq, size, offset = self.features(query, box)
        if point is None:
            return self.discover(query, box).seed
        local = (point[0] - offset[0], point[1] - offset[1])
        return point_to_patch(local, size, fq.shape[1:])

    def localize(self, query, result, point=None, box=None) -> Localization:
        """The object at ``point`` of the query (its salient object without one), found in
        ``result``; box in ``result``'s pixels."""
        key = (
            str(query),
            tuple(point) if point else None,
            tuple(box) if box else None,
            str(result),
        )

        def make():
            seed = self.seed_patch(query, point, box)
            self._check_blank(result)
            fq, q_size, _ = self.features(query, box)
            fr, r_size, _ = self.features(result)
            return localize_pair(fq, q_size, seed, fr, r_size)

        return self._lru_get(self._results, key, make)
