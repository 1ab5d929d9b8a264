"""Whether two photos are the same picture: the one place that decides what a copy is.

A pair is a copy when its stored local codes verify with at least ``MIN_INLIERS`` inliers
making at least ``MIN_RATIO`` of the smaller photo's features, the transform is close to a
similarity (no perspective, no shear, no mirror, a rotation close to a multiple of a quarter
turn: ``near_identity``), each photo covers most of the other (``MIN_COVER``: what separates
a copy from another photo of the same object, or from a picture that holds it small), and,
mapped onto each other, the two show the same content (``differing_share``): shots from a
fixed camera where something moved, or a background with different things in front, share
their background exactly but differ where the things are. A pair that verifies and overlaps
but fails the transform or the content test is a pair of *similar shots*.

Smooth, low-texture pictures keep too few features for the geometry: for a pair whose
features find no transform, or a transform that is not a copy's, the global signal decides
(``same_picture``): close perceptual hashes, the same shape, and no difference once one is
resized onto the other.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from engine.match.verify import box_quad, project, verify_codes

#: a duplicate is a verified pair (the one verifier's verdict) with at least this many inliers,
#: making at least ``MIN_RATIO`` of the smaller photo's features (the ``threshold``)
MIN_INLIERS = 20
MIN_RATIO = 0.05
#: the transform: rotation within this (degrees) of a multiple of 90; the perspective terms
#: change the projective denominator by at most this across the photo
MAX_ROTATION = 8.0
MAX_PERSPECTIVE = 0.05
#: each photo of a pair, mapped onto the other, covers at least this share of it
MIN_COVER = 0.6
#: the content check (``differing_share``): photos compared at this long side, on windows of
#: this many pixels, where a variance below ``FLAT`` (grey levels squared) is flat and a
#: correlation above ``SAME_STRUCTURE`` is the same; differing windows opened by an
#: ``OPENING``-pixel square; a duplicate differs on at most ``MAX_DIFFERING`` of the overlap
#: (chosen on the benchmark set, README "Duplicates, measured")
CONTENT_SIDE = 320
WINDOW = 9
FLAT = 4.0
SAME_STRUCTURE = 0.5
OPENING = 3
MAX_DIFFERING = 0.07
#: the global signal, for pairs whose local features find no transform: perceptual hashes
#: within this many bits, aspect ratios within this share, and no more than this share of
#: the picture differing once one is resized onto the other
GLOBAL_PHASH_BITS = 10
GLOBAL_ASPECT = 0.03
GLOBAL_DIFFERING = 0.02
#: small grey pictures kept in memory for the content checks
PICTURE_CACHE = 1024


@dataclass
class Pair:
    a: int
    b: int
    inliers: int
    ratio: float
    cover: float
    #: what decided: "geometry" (local features and content) or "global" (hash and pixels)
    how: str = "geometry"

    def to_dict(self, paths: dict[int, str]) -> dict:
        return {
            "a": paths.get(self.a),
            "b": paths.get(self.b),
            "inliers": self.inliers,
            "inlier_ratio": round(self.ratio, 3),
            "cover": round(self.cover, 3),
            "how": self.how,
        }


def near_identity(H: np.ndarray, size: tuple[float, float]) -> bool:
    """A similarity-like transform over a photo of ``size``: no perspective, no shear, and a
    rotation close to a quarter turn's multiple (a copy stored sideways or upside down)."""
    H = H / H[2, 2]
    if abs(H[2, 0]) * size[0] + abs(H[2, 1]) * size[1] > MAX_PERSPECTIVE:
        return False
    a = H[:2, :2]
    sx, sy = np.linalg.norm(a[:, 0]), np.linalg.norm(a[:, 1])
    if min(sx, sy) <= 0 or max(sx, sy) / min(sx, sy) > 1.1:
        return False
    if abs(float(a[:, 0] @ a[:, 1])) / (sx * sy) > np.sin(np.radians(MAX_ROTATION)):
        return False  # the axes are not at right angles: a shear
    if np.linalg.det(a) < 0:
        return False  # a mirror image
    angle = np.degrees(np.arctan2(a[1, 0], a[0, 0]))
    return bool(abs((angle + 45) % 90 - 45) <= MAX_ROTATION)


def differing_share(ga: np.ndarray, gb: np.ndarray, H: np.ndarray, a_size, b_size) -> float | None:
    """The share of the overlap where two small grey pictures differ, once ``ga`` (photo a,
    of full size ``a_size``) is mapped onto ``gb`` (photo b) by ``H`` (full-size pixels).

    Compared on local structure: in each ``WINDOW``-pixel window, the correlation of the two
    pictures' brightness (unchanged by a change of tones, contrast or colour, or by a
    translucent overlay), a window flat in both counting as the same; the differing windows
    are then opened (``OPENING``), so that thin strokes (a line of text) and the rim of an
    overlay do not count, while a thing that moved or was put in front does. None when they
    hardly overlap."""
    import cv2

    ga, gb = ga.astype(np.float32), gb.astype(np.float32)
    sa = np.diag([ga.shape[1] / a_size[0], ga.shape[0] / a_size[1], 1.0])
    sb = np.diag([gb.shape[1] / b_size[0], gb.shape[0] / b_size[1], 1.0])
    hs = sb @ H @ np.linalg.inv(sa)
    size = (gb.shape[1], gb.shape[0])
    warped = cv2.warpPerspective(ga, hs, size)
    inside = cv2.warpPerspective(np.ones_like(ga), hs, size) > 0.99
    inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if inside.sum() < 64:
        return None
    x, y = cv2.GaussianBlur(warped, (5, 5), 0), cv2.GaussianBlur(gb, (5, 5), 0)
    k = (WINDOW, WINDOW)
    mx, my = cv2.blur(x, k), cv2.blur(y, k)
    vx = np.maximum(cv2.blur(x * x, k) - mx * mx, 0.0)
    vy = np.maximum(cv2.blur(y * y, k) - my * my, 0.0)
    corr = (cv2.blur(x * y, k) - mx * my) / np.sqrt(vx * vy + 1e-6)
    same = ((vx < FLAT) & (vy < FLAT)) | (corr > SAME_STRUCTURE)
    differ = (~same & inside).astype(np.uint8)
    differ = cv2.morphologyEx(differ, cv2.MORPH_OPEN, np.ones((OPENING, OPENING), np.uint8))
    return float(differ[inside].mean())


class Pictures:
    """Small grey pictures of the library's photos (long side ``CONTENT_SIDE``, upright),
    decoded once and kept for the last ``PICTURE_CACHE`` photos asked for."""

    def __init__(self, side: int = CONTENT_SIDE, size: int = PICTURE_CACHE) -> None:
        self.side, self.size = side, size
        self._cache: OrderedDict[str, np.ndarray | None] = OrderedDict()

    def get(self, path: str) -> np.ndarray | None:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        from engine.errors import BadImageError
        from engine.photo.decode import load_photo

        try:
            img = np.asarray(load_photo(path, max_side=self.side).image.convert("L"), np.uint8)
        except (BadImageError, OSError):
            img = None
        self._cache[path] = img
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return img


def content_differs(
    path_a: str, path_b: str, H: np.ndarray, a_size, b_size, side: int = CONTENT_SIDE
) -> float | None:
    """The share of the overlap where the two photos differ, once photo a is mapped onto
    photo b by ``H`` (``differing_share``): about 0 for a copy, a resize, a recompression, a
    crop or a change of tones; large for another shot from the same spot where something
    moved. None when a photo cannot be read."""
    pics = Pictures(side)
    ga, gb = pics.get(path_a), pics.get(path_b)
    if ga is None or gb is None:
        return None
    return differing_share(ga, gb, H, a_size, b_size)


def same_picture(ga: np.ndarray, gb: np.ndarray, a_size, b_size) -> float | None:
    """The global signal: the share of the picture where photo a, resized onto photo b,
    differs from it (None when their shapes differ: not a resized copy)."""
    ra, rb = a_size[0] / a_size[1], b_size[0] / b_size[1]
    if abs(ra - rb) > GLOBAL_ASPECT * ra:
        return None
    H = np.diag([b_size[0] / a_size[0], b_size[1] / a_size[1], 1.0])
    return differing_share(ga, gb, H, a_size, b_size)


def _clip(poly: np.ndarray, w: float, h: float) -> np.ndarray:
    """The polygon ``poly`` (N, 2) clipped to the box ``[0, w] × [0, h]`` (Sutherland–Hodgman:
    exact where OpenCV's ``intersectConvexConvex`` fails on edges that coincide, as those of
    a copy of the same size do)."""
    for axis, bound, keep_below in ((0, 0.0, False), (0, w, True), (1, 0.0, False), (1, h, True)):
        out = []
        for i in range(len(poly)):
            p, q = poly[i], poly[(i + 1) % len(poly)]
            p_in = p[axis] <= bound if keep_below else p[axis] >= bound
            q_in = q[axis] <= bound if keep_below else q[axis] >= bound
            if p_in:
                out.append(p)
            if p_in != q_in:
                t = (bound - p[axis]) / (q[axis] - p[axis])
                out.append(p + t * (q - p))
        poly = np.array(out, np.float64).reshape(-1, 2)
        if not len(poly):
            break
    return poly


def _area(poly: np.ndarray) -> float:
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(x @ np.roll(y, -1) - y @ np.roll(x, -1)))


def _cover(H: np.ndarray, a_size, b_size) -> float:
    """How much of each photo the other covers, the smaller of the two shares: photo ``a``
    mapped by ``H`` into ``b``'s coordinates, the overlap over ``a``'s mapped area and over
    ``b``'s area. A copy (resized, cropped by up to a fifth) covers most of both; a photo
    pasted small into another covers all of itself but little of the other."""
    quad = project(H, box_quad((0, 0, *a_size))).astype(np.float64)
    bw, bh = b_size
    inter = _area(_clip(quad, float(bw), float(bh)))
    return float(min(inter / max(_area(quad), 1.0), inter / max(bw * bh, 1.0)))


@dataclass
class Verdict:
    """A candidate pair judged: ``kind`` "copies" (the same picture) or "similar" (similar
    shots), with its evidence."""

    kind: str
    pair: Pair


class Judge:
    """Judges candidate pairs on their stored codes and small pictures (see the module)."""

    def __init__(self, rows: dict, min_ratio: float, pictures: Pictures | None = None) -> None:
        self.rows, self.min_ratio = rows, min_ratio
        self.pictures = pictures or Pictures()

    def _size(self, i: int) -> tuple[int, int]:
        return (self.rows[i].width, self.rows[i].height)

    def __call__(self, a: int, b: int, ca, cb, hash_bits: int | None = None) -> Verdict | None:
        """``ca``, ``cb``: the stored local codes (or None); ``hash_bits``: the perceptual
        hashes' distance when the pair is that close (None: further)."""
        sa, sb = self._size(a), self._size(b)
        if sa[0] * sa[1] > sb[0] * sb[1]:  # map the smaller photo into the larger
            a, b, ca, cb, sa, sb = b, a, cb, ca, sb, sa
        if ca is not None and cb is not None and min(len(ca), len(cb)) >= MIN_INLIERS:
            v = verify_codes(ca, sa, cb, sb)
            if v.verified and v.H is not None and v.inliers >= MIN_INLIERS:
                verdict = self._geometry(a, b, v, min(len(ca), len(cb)), sa, sb)
                if verdict is not None and verdict.kind == "copies":
                    return verdict
                # a smooth copy's few features may find a poor transform: the global signal
                if hash_bits is not None and hash_bits <= GLOBAL_PHASH_BITS:
                    return self._global(a, b, sa, sb) or verdict
                return verdict
        if hash_bits is not None and hash_bits <= GLOBAL_PHASH_BITS:
            return self._global(a, b, sa, sb)
        return None

    def _geometry(self, a: int, b: int, v, features: int, sa, sb) -> Verdict | None:
        ratio = v.inliers / features
        cover = _cover(v.H, sa, sb)
        pair = Pair(min(a, b), max(a, b), v.inliers, ratio, cover)
        if cover < MIN_COVER:
            return None  # another photo of the same object: neither a copy nor a burst
        if ratio >= self.min_ratio and near_identity(v.H, sa):
            ga = self.pictures.get(self.rows[a].display_path)
            gb = self.pictures.get(self.rows[b].display_path)
            differs = None if ga is None or gb is None else differing_share(ga, gb, v.H, sa, sb)
            if differs is not None and differs <= MAX_DIFFERING:
                return Verdict("copies", pair)
        return Verdict("similar", pair)

    def _global(self, a: int, b: int, sa, sb) -> Verdict | None:
        ga = self.pictures.get(self.rows[a].display_path)
        gb = self.pictures.get(self.rows[b].display_path)
        if ga is None or gb is None:
            return None
        differs = same_picture(ga, gb, sa, sb)
        if differs is None or differs > GLOBAL_DIFFERING:
            return None
        return Verdict("copies", Pair(min(a, b), max(a, b), 0, 0.0, 1.0, "global"))


def _judge_pair(a: int, b: int, rows: dict, ca, cb, min_ratio: float) -> Pair | None:
    """The evidence that photos ``a`` and ``b`` (their file ``rows``, their stored local codes
    ``ca``, ``cb``) are near-duplicates, or None when they are not (or cannot be told)."""
    verdict = Judge(rows, min_ratio)(a, b, ca, cb)
    return verdict.pair if verdict is not None and verdict.kind == "copies" else None
