"""The one verifier: whether a query and a photo show the same thing, and the evidence.

Search, ``evaluate``, the overlap audit, duplicates, the compare view, localization and the
"where it matched" heatmap all call it (``verify_query`` for a query against a photo's code,
``verify_codes`` for two photos' codes), with one estimator, one minimum inlier count and one
definition of ``verified``; stricter uses (duplicates, mining) add their own tests on top of a
verified pair, never a second verifier.

Tentative correspondences come from shared visual words, a RANSAC homography (OpenCV's USAC
MAGSAC++) keeps the consistent ones, the one-to-one inlier count is the evidence.

The query has its RootSIFT descriptors and several words per feature; a library photo has,
per feature, its nearest word and keypoint (``LocalCode``). A query feature and a photo
feature correspond when the photo feature's word is one of the query feature's words. Words
that repeat a lot in both photos (bursts: windows, foliage) contribute at most
``BURST`` × ``BURST`` pairs. Inliers are counted one-to-one (distinct query points and
distinct photo points), so a burst cannot inflate the evidence.

Before RANSAC, weak geometric consistency (Jégou et al., Hamming embedding and weak geometric
consistency) keeps the correspondences that agree with the dominant change of orientation and
scale between the two photos (a vote over the keypoints' angle and log-scale differences): most
wrong pairs from shared words disagree, so RANSAC sees a much cleaner set.

Photos described on the spot (click-to-localize's last stage) have descriptors but no words:
``ratio_correspondences`` pairs them by Lowe's ratio test, and the same consistency test and
estimator (``consistent``, ``fit``) take it from there.

``verified`` needs ``MIN_INLIERS`` one-to-one inliers and a sane transform: the query box maps
to a convex quadrilateral that keeps a reasonable share of its area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from engine.match.asmk import LocalCode, QueryCode

#: one-to-one inliers needed to call a pair verified (see README: measured on generated
#: pairs and the codebook's own training photos, never on the evaluation set)
MIN_INLIERS = 12
#: pairs per word at most from each side
BURST = 4
#: reprojection threshold as a fraction of the photo's long side (8 px at 1024 px)
REPROJ_FRACTION = 0.008
MIN_REPROJ_PX = 2.0
#: the projected query box's area relative to the result photo's: out of this range the
#: transform is degenerate
MIN_AREA_FRACTION = 1e-4
MAX_AREA_FRACTION = 16.0


@dataclass
class Verification:
    """Evidence for one pair.

    inliers: one-to-one RANSAC inliers; matches: tentative correspondences tried;
    H (3, 3): query → photo homography (None without a model); quad (4, 2): the query box's
    corners in the photo (None unless verified); q_xy (n, 2), p_xy (n, 2): the one-to-one inlier
    correspondences in original pixels of each photo (n = inliers).
    """

    inliers: int
    matches: int
    verified: bool
    H: np.ndarray | None = None
    quad: np.ndarray | None = None
    q_xy: np.ndarray | None = None
    p_xy: np.ndarray | None = None

    @classmethod
    def none(cls, matches: int = 0) -> Verification:
        return cls(0, matches, False)


def correspondences(
    q_assign: np.ndarray, p_words: np.ndarray, burst: int = BURST
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(qi, pi)`` where photo feature ``pi``'s word is one of query feature
    ``qi``'s words (``q_assign (n, m)``, ``p_words (k,)``); at most ``burst``² per word."""
    if len(q_assign) == 0 or len(p_words) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    m = q_assign.shape[1]
    qw = q_assign.reshape(-1)
    qi = np.repeat(np.arange(len(q_assign)), m)
    keep = np.ones(len(qw), bool)
    if m > 1:  # a feature listed under the same word twice (its far assignments collapsed)
        keep[1:] = ~((qw[1:] == qw[:-1]) & (qi[1:] == qi[:-1]))
    qw, qi = qw[keep], qi[keep]
    qo = np.argsort(qw, kind="stable")
    qw, qi = qw[qo], qi[qo]
    pw = np.asarray(p_words, np.int64)
    po = np.argsort(pw, kind="stable")
    pw_s = pw[po]
    shared = np.intersect1d(qw, pw_s)
    if len(shared) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    qa, qb = np.searchsorted(qw, shared), np.searchsorted(qw, shared, side="right")
    pa, pb = np.searchsorted(pw_s, shared), np.searchsorted(pw_s, shared, side="right")
    lq = np.minimum(qb - qa, burst)
    lp = np.minimum(pb - pa, burst)
    per = lq * lp
    word = np.repeat(np.arange(len(shared)), per)
    t = np.arange(int(per.sum())) - np.repeat(np.cumsum(per) - per, per)
    q_sel = qa[word] + t // lp[word]
    p_sel = pa[word] + t % lp[word]
    return qi[q_sel], po[p_sel]


#: weak-geometric-consistency bins: 30° of rotation, a factor √2 of scale
ANGLE_BIN = 30.0
LOG2_SCALE_BIN = 0.5


def consistent(q_kp: np.ndarray, p_kp: np.ndarray) -> np.ndarray:
    """``(n,) bool``: pairs whose rotation and scale change agree with the dominant one
    (its bin and the neighbouring bins)."""
    if len(q_kp) == 0:
        return np.zeros(0, bool)
    da = np.mod(p_kp[:, 3] - q_kp[:, 3], 360.0)
    ds = np.log2(np.maximum(p_kp[:, 2], 1e-3) / np.maximum(q_kp[:, 2], 1e-3))
    na = round(360.0 / ANGLE_BIN)
    ai = np.floor(da / ANGLE_BIN).astype(np.int64) % na
    si = np.floor(ds / LOG2_SCALE_BIN).astype(np.int64)
    si -= si.min()
    ns = int(si.max()) + 1
    votes = np.bincount(ai * ns + si, minlength=na * ns).reshape(na, ns).astype(np.float32)
    # smooth over neighbouring bins (orientation wraps around) and pick the peak
    sm = votes.copy()
    for da_ in (-1, 1):
        sm += np.roll(votes, da_, axis=0)
    pad = np.pad(sm, ((0, 0), (1, 1)))
    sm = pad[:, :-2] + pad[:, 1:-1] + pad[:, 2:]
    pa, ps = np.unravel_index(int(np.argmax(sm)), sm.shape)
    near_a = np.minimum(np.abs(ai - pa), na - np.abs(ai - pa)) <= 1
    return near_a & (np.abs(si - ps) <= 1)


#: Lowe's ratio test: a feature's nearest photo descriptor must be this much nearer than its
#: second nearest (for photos described on the spot, which have descriptors but no words)
RATIO = 0.8


def ratio_correspondences(
    q_desc: np.ndarray, p_desc: np.ndarray, ratio: float = RATIO
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(qi, pi)`` of query descriptors ``(n, 128)`` whose nearest photo
    descriptor ``(k, 128)`` passes the ratio test (unit RootSIFT vectors: Euclidean distance
    from the dot product); a photo feature is kept once, for its most similar query feature."""
    if len(q_desc) < 1 or len(p_desc) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    s = np.asarray(q_desc, np.float32) @ np.asarray(p_desc, np.float32).T  # (n, k)
    top = np.argpartition(-s, 1, axis=1)[:, :2]
    rows = np.arange(len(s))
    a, b = s[rows, top[:, 0]], s[rows, top[:, 1]]
    best = np.where(a >= b, top[:, 0], top[:, 1])
    s1, s2 = np.maximum(a, b), np.minimum(a, b)
    d1, d2 = np.sqrt(np.maximum(2 - 2 * s1, 0)), np.sqrt(np.maximum(2 - 2 * s2, 0))
    qi = np.flatnonzero(d1 < ratio * d2)
    pi = best[qi]
    order = np.lexsort((-s1[qi], pi))  # per photo feature, its most similar query feature first
    _, first = np.unique(pi[order], return_index=True)
    keep = np.sort(order[first])
    return qi[keep].astype(np.int64), pi[keep].astype(np.int64)


def one_to_one(q: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inlier pairs with each query point and each photo point used once (first kept)."""
    if len(q) == 0:
        return q, p
    _, qi = np.unique(q, axis=0, return_index=True)
    keep = np.zeros(len(q), bool)
    keep[qi] = True
    q, p = q[keep], p[keep]
    _, pi = np.unique(p, axis=0, return_index=True)
    pi = np.sort(pi)
    return q[pi], p[pi]


def box_quad(box) -> np.ndarray:
    x0, y0, x1, y1 = (float(v) for v in box)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def project(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """``pts (n, 2)`` through homography ``H`` → ``(n, 2)``."""
    return cv2.perspectiveTransform(np.asarray(pts, np.float32).reshape(-1, 1, 2), H).reshape(-1, 2)


def quad_is_sane(quad: np.ndarray, photo_size: tuple[float, float]) -> bool:
    """A convex quadrilateral of plausible area (a degenerate homography is not evidence)."""
    if quad is None or not np.isfinite(quad).all():
        return False
    if not cv2.isContourConvex(quad.reshape(-1, 1, 2).astype(np.float32)):
        return False
    area = abs(cv2.contourArea(quad.astype(np.float32)))
    w, h = photo_size
    return MIN_AREA_FRACTION <= area / max(w * h, 1.0) <= MAX_AREA_FRACTION


def fit(
    q_xy: np.ndarray,
    p_xy: np.ndarray,
    photo_size: tuple[float, float],
    query_box,
) -> Verification:
    """RANSAC homography from ``q_xy (n, 2)`` to ``p_xy (n, 2)`` (original pixels)."""
    n = len(q_xy)
    if n < 4:
        return Verification.none(n)
    thr = max(MIN_REPROJ_PX, REPROJ_FRACTION * max(photo_size))
    H, mask = cv2.findHomography(
        q_xy.astype(np.float32),
        p_xy.astype(np.float32),
        cv2.USAC_MAGSAC,
        thr,
        maxIters=2000,
        confidence=0.999,
    )
    if H is None or mask is None:
        return Verification.none(n)
    inl = mask.ravel().astype(bool)
    qi, pi = one_to_one(q_xy[inl], p_xy[inl])
    count = len(qi)
    quad = project(H, box_quad(query_box))
    ok = count >= MIN_INLIERS and quad_is_sane(quad, photo_size)
    return Verification(count, n, ok, H, quad if ok else None, qi, pi)


def verify_code(
    query_assign: np.ndarray,
    query_kp: np.ndarray,
    query_box,
    code,
    photo_size: tuple[float, float],
) -> Verification:
    """Verify a query (features' words ``(n, m)`` and keypoints ``(n, 4)``) against a stored
    ``LocalCode`` of a photo of ``photo_size = (W, H)``."""
    qi, pi = correspondences(query_assign, code.fwords)
    if len(qi) < 4:
        return Verification.none(len(qi))
    return _fit_pairs(query_kp[qi], code.kp.astype(np.float32)[pi], photo_size, query_box)


def verify_query(
    query: QueryCode, region, code: LocalCode, photo_size: tuple[float, float]
) -> Verification:
    """A query (its features' words and keypoints; ``region`` the searched box in its pixels)
    against a photo's stored code (of a photo of ``photo_size = (W, H)``)."""
    return verify_code(query.assign, query.feats.kp, region, code, photo_size)


def _fit_pairs(q_kp, p_kp, photo_size, query_box) -> Verification:
    n = len(q_kp)
    keep = consistent(q_kp, p_kp)
    if keep.sum() < 4:
        return Verification.none(n)
    v = fit(q_kp[keep, :2], p_kp[keep, :2], photo_size, query_box)
    v.matches = n
    return v


def verify_codes(a, a_size, b, b_size) -> Verification:
    """Two stored codes against each other (each feature has one word): duplicates."""
    qi, pi = correspondences(a.fwords.astype(np.int64)[:, None], b.fwords)
    if len(qi) < 4:
        return Verification.none(len(qi))
    box = (0.0, 0.0, float(a_size[0]), float(a_size[1]))
    return _fit_pairs(a.kp.astype(np.float32)[qi], b.kp.astype(np.float32)[pi], b_size, box)
