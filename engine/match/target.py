"""The clicked (or boxed) object of a query, built once per click: what every result photo is
searched for.

A click: the object's extent grown from the click (``extent.click_extent``), and the RootSIFT
features of the square around the click (``extent.RECT`` × the query's long side, at most
the describer's long side in px, its feature cap) with their visual words: a small object in
a busy photo gets features of its own instead of a few of the whole photo's.

A drawn box (or the whole query when neither was given): the features are the search's own
(the query described in the box), the extent is GrabCut in the box (the whole photo's corners
for a whole-photo query).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine import faiss_device
from engine.match.asmk import QueryCode, encode_query
from engine.match.codebook import Codebook
from engine.match.describe import DEFAULT, DescribeSettings, LocalFeatures, features_from_gray
from engine.match.extent import RECT, box_extent, click_extent, square_around
from engine.match.verify import box_quad
from engine.photo.decode import Box, PhotoSource, load_photo

#: the query is decoded at most this long side for a click (a crop of ``RECT`` × the long side
#: then keeps the describer's 1024 px)
QUERY_SIDE = 2048


@dataclass
class Target:
    """What a result photo is searched for.

    extent ``(n, 2) float32``: the object's convex outline in the query's pixels; feats and
    assign ``(m, k)``: the features that find it and their words; size ``(W, H)`` of the query;
    searched: the features are the search's own (its check of a photo is this target's).
    """

    extent: np.ndarray
    feats: LocalFeatures
    assign: np.ndarray
    size: tuple[int, int]
    searched: bool = False

    @property
    def bbox(self) -> Box:
        x0, y0 = self.extent.min(axis=0)
        x1, y1 = self.extent.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def on_extent(self, xy: np.ndarray) -> int:
        """How many points ``xy (n, 2)`` lie on the extent (its edge included)."""
        return int(inside_convex(self.extent, xy).sum())


def inside_convex(poly: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``(n,) bool``: points ``xy (n, 2)`` inside (or on) the convex polygon ``poly (k, 2)``."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    p = np.asarray(poly, np.float64).reshape(-1, 2)
    if len(xy) == 0 or len(p) < 3:
        return np.zeros(len(xy), bool)
    e = np.roll(p, -1, axis=0) - p  # (k, 2) edges
    d = xy[:, None, :] - p[None, :, :]  # (n, k, 2)
    cross = e[None, :, 0] * d[..., 1] - e[None, :, 1] * d[..., 0]
    eps = 1e-6 * float(np.abs(p).max() + 1.0)
    return (cross >= -eps).all(axis=1) | (cross <= eps).all(axis=1)


def click_problem(point, box: Box | None, size: tuple[float, float]) -> str | None:
    """Why a click cannot be used (outside the photo, or outside the searched box), or None."""
    w, h = size
    x, y = (float(v) for v in point)
    if not (np.isfinite(x) and np.isfinite(y)) or not (0 <= x <= w and 0 <= y <= h):
        return f"the click at ({x:.0f}, {y:.0f}) is outside the {w:.0f}x{h:.0f} query photo"
    if box is not None and not (box[0] <= x <= box[2] and box[1] <= y <= box[3]):
        b = ", ".join(f"{v:.0f}" for v in box)
        return f"the click at ({x:.0f}, {y:.0f}) is outside the searched box ({b})"
    return None


def click_target(
    src: PhotoSource,
    point: tuple[float, float],
    book: Codebook,
    settings: DescribeSettings = DEFAULT,
) -> Target:
    """The object under ``point`` (original query pixels). Raises ``BadImageError``."""
    photo = load_photo(src, QUERY_SIDE)
    f = photo.scale
    rgb = np.asarray(photo.image, np.uint8)
    size = photo.original_size
    extent = click_extent(rgb, (point[0] * f, point[1] * f)) / np.float32(f)
    x0, y0, x1, y1 = (round(v * f) for v in square_around(point, RECT * max(size), size))
    gray = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    s = min(1.0, settings.long_side / max(1, *gray.shape))
    if s < 1:
        small = (max(1, round(gray.shape[1] * s)), max(1, round(gray.shape[0] * s)))
        gray = cv2.resize(gray, small, interpolation=cv2.INTER_AREA)
    feats = features_from_gray(gray, 1.0 / (f * s), (x0 / f, y0 / f), settings)
    with faiss_device.one_thread():
        assign = encode_query(feats, book).assign
    return Target(extent.astype(np.float32), feats, assign, size)


def box_target(
    src: PhotoSource, query: QueryCode, box: Box | None, size: tuple[int, int]
) -> Target:
    """The object in a drawn ``box`` (the whole query when None), found by the search's own
    features ``query`` (described in that box). Raises ``BadImageError``."""
    w, h = size
    whole = box is None or (box[0] <= 0 and box[1] <= 0 and box[2] >= w and box[3] >= h)
    if whole:
        extent = box_quad((0.0, 0.0, float(w), float(h)))
    else:
        photo = load_photo(src, QUERY_SIDE)
        f = photo.scale
        rgb = np.asarray(photo.image, np.uint8)
        extent = box_extent(rgb, tuple(v * f for v in box)) / np.float32(f)
    return Target(extent.astype(np.float32), query.feats, query.assign, size, searched=True)
