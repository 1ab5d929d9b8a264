"""Click-to-localize: where the clicked (or boxed) object of a query lies in each result photo.

The clicked object (``target.Target``: its extent in the query and the features that find it)
is built once per click. Each result photo then goes through three stages, cheapest first; the
first that verifies the object draws the outline:

0. ``evidence``: the search's own check of the photo (the whole query, or the drawn box,
   against it; ``QuerySession.evidence``). Its transform counts when at least 12 inliers
   support it, 8 of them on the extent, and it maps the extent sanely. No work at all.
1. ``words``: the target's features against the photo's stored code (shared visual words, weak
   geometric consistency, MAGSAC): 12 one-to-one inliers, 8 on the extent, a sane map. A few
   milliseconds.
2. ``rematch``: the photo described again from its file at 640 px with 3,000 RootSIFT features
   (``REMATCH_SETTINGS``), Lowe's ratio test, weak geometric consistency, MAGSAC: 8 inliers, 6
   on the extent, a sane map. About 0.3 s a photo, so it runs only where 0 and 1 failed, on a
   pool of threads (OpenCV and numpy release the GIL).

The outline is the convex hull of the extent mapped through the transform, clipped to the
photo; its box is the outline's bounding box. Where every stage fails the photo says "not found
in this photo" and why. The network's patch similarity never draws an outline: it scores high
on any photo, so alone it is no evidence that the object is there.

Measured with ``visual-search bench localize`` (README, "Click-to-localize").
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import cv2
import numpy as np

from engine.cores import available_cores
from engine.errors import BadImageError
from engine.match.asmk import LocalCode, encode, encode_query
from engine.match.codebook import Codebook
from engine.match.describe import DEFAULT, DescribeSettings, LocalFeatures, describe, local_features
from engine.match.target import Target, box_target, click_problem, click_target
from engine.match.verify import (
    MIN_INLIERS,
    Verification,
    box_quad,
    consistent,
    correspondences,
    fit,
    project,
    quad_is_sane,
    ratio_correspondences,
    verify_query,
)
from engine.photo.decode import Box, PhotoSource


@dataclass(frozen=True)
class Stage:
    """A stage's name (``Location.method``) and what it needs: one-to-one inliers, and how
    many of them on the object's extent."""

    name: str
    min_inliers: int
    min_on: int


EVIDENCE = Stage("evidence", MIN_INLIERS, 8)
WORDS = Stage("words", MIN_INLIERS, 8)
REMATCH = Stage("rematch", 8, 6)
#: how the rematch stage describes a photo again (more, smaller features than stored codes)
REMATCH_SETTINGS = DescribeSettings(long_side=640, max_features=3000)
#: inliers on the extent at which confidence reaches 1
FULL_SUPPORT = 30


@dataclass
class Location:
    """The object in one result.

    method: the stage that found it (``evidence``, ``words``, ``rematch``) or None (not found
    here); box ``(x0, y0, x1, y1)`` and polygon ``[[x, y], ...]`` in the result's pixels;
    confidence in [0, 1] (inliers on the object, 30 for full confidence); inliers: the
    transform's one-to-one inliers; reason: why nothing was found.
    """

    file_id: int
    path: str
    method: str | None
    box: tuple[float, float, float, float] | None
    polygon: list[list[float]] | None
    confidence: float
    reason: str | None = None
    inliers: int = 0

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
            "inliers": self.inliers,
            "reason": self.reason,
        }


@dataclass
class Candidate:
    """One result photo: ``path`` as shown, ``file`` as read (stage 2), ``size`` (W, H) in
    original pixels, ``evidence`` the search's check of it and ``code`` its stored local code
    (either None when there is none)."""

    file_id: int
    path: str
    file: str
    size: tuple[float, float]
    evidence: Verification | None = None
    code: LocalCode | None = None


def not_found(file_id: int, path: str, why: str) -> Location:
    return Location(file_id, path, None, None, None, 0.0, f"not found in this photo ({why})")


# ----------------------------------------------------------------------------- one verdict


def outline(
    target: Target, v: Verification, size: tuple[float, float], stage: Stage
) -> tuple[np.ndarray, int] | str:
    """``(polygon (n, 2), inliers on the extent)`` of the target in a photo of ``size`` under
    the transform of ``v``, or the reason the stage does not accept it."""
    if v.H is None or v.q_xy is None:
        return f"no geometric match: {v.matches} matches"
    if v.inliers < stage.min_inliers:
        return f"no geometric match: {v.inliers} inliers (needs {stage.min_inliers})"
    on = target.on_extent(v.q_xy)
    if on < stage.min_on:
        return (
            f"too few matches on the clicked object: {on} of {v.inliers} inliers "
            f"(needs {stage.min_on})"
        )
    if not quad_is_sane(project(v.H, box_quad(target.bbox)), size):
        return "degenerate transform"
    poly = project(v.H, target.extent)
    if not np.isfinite(poly).all():
        return "degenerate transform"
    hull = cv2.convexHull(poly.astype(np.float32)).reshape(-1, 2)
    clipped = clip_to_photo(hull, size)
    if clipped is None:
        return "the outline falls outside the photo"
    return clipped, on


def clip_to_photo(poly: np.ndarray, size: tuple[float, float]) -> np.ndarray | None:
    """The convex polygon ``poly (n, 2)`` cut to the photo's rectangle (None when nothing of
    it is inside)."""
    rect = box_quad((0.0, 0.0, float(size[0]), float(size[1])))
    area, inter = cv2.intersectConvexConvex(poly.astype(np.float32), rect)
    if inter is None or area < 1.0:
        return None
    return inter.reshape(-1, 2)


def verdict(c: Candidate, target: Target, v: Verification | str, stage: Stage) -> Location | str:
    """The photo's ``Location`` when ``stage`` accepts the transform of ``v``, else why not
    (``v`` may already be that reason)."""
    got = v if isinstance(v, str) else outline(target, v, c.size, stage)
    if isinstance(got, str):
        return got
    poly, on = got
    x0, y0 = poly.min(axis=0)
    x1, y1 = poly.max(axis=0)
    box = (float(x0), float(y0), float(x1), float(y1))
    conf = min(1.0, on / FULL_SUPPORT)
    return Location(
        c.file_id,
        c.path,
        stage.name,
        box,
        poly.astype(np.float64).round(1).tolist(),
        conf,
        None,
        v.inliers,
    )


# ----------------------------------------------------------------------------- the stages


def _fit(
    target: Target, q_kp: np.ndarray, p_kp: np.ndarray, size, stage: Stage
) -> Verification | str:
    """Weak geometric consistency, then MAGSAC. Where fewer consistent pairs are left (or fewer
    of them on the extent) than ``stage`` needs inliers, the estimator is spared (the photos
    without the object) and the reason comes back instead."""
    if len(q_kp) < 4:
        return f"no geometric match: {len(q_kp)} matches"
    keep = consistent(q_kp, p_kp)
    q, p = q_kp[keep, :2], p_kp[keep, :2]
    if len(q) < max(4, stage.min_inliers):
        return f"no geometric match: {len(q)} consistent matches (needs {stage.min_inliers})"
    on = target.on_extent(q)
    if on < stage.min_on:
        return (
            f"too few matches on the clicked object: {on} of {len(q)} consistent matches "
            f"(needs {stage.min_on})"
        )
    return fit(q, p, size, target.bbox)


def words_check(target: Target, code: LocalCode, size: tuple[float, float]) -> Verification | str:
    """Stage 1: the target's features against a photo's stored code."""
    qi, pi = correspondences(target.assign, code.fwords)
    return _fit(target, target.feats.kp[qi], code.kp.astype(np.float32)[pi], size, WORDS)


def rematch_check(
    target: Target, feats: LocalFeatures, size: tuple[float, float]
) -> Verification | str:
    """Stage 2: the target's features against a photo described again (``feats``)."""
    qi, pi = ratio_correspondences(target.feats.desc, feats.desc)
    return _fit(target, target.feats.kp[qi], feats.kp[pi], size, REMATCH)


def quick(target: Target, c: Candidate) -> Location | str:
    """Stages 0 and 1 (stored data only): the photo's ``Location``, or why they failed."""
    why = "no stored data"
    if c.evidence is not None:
        got = verdict(c, target, c.evidence, EVIDENCE)
        if isinstance(got, Location):
            return got
        why = got
    if c.code is not None and not target.searched:  # a searched target's words: stage 0
        got = verdict(c, target, words_check(target, c.code, c.size), WORDS)
        if isinstance(got, Location):
            return got
        why = got
    return why


#: the reason of a photo that could not be read for stage 2 (a drive unplugged, a file moved
#: away): not kept as the click's answer, since it may read the next time
UNREADABLE = "cannot read the photo again"


def rematch(target: Target, c: Candidate, photos: RedescribedPhotos) -> Location:
    """Stage 2: the photo's ``Location`` or "not found" with the reason."""
    try:
        feats = photos.features(c.file)
    except (BadImageError, OSError) as e:
        return not_found(c.file_id, c.path, f"{UNREADABLE}: {e}")
    got = verdict(c, target, rematch_check(target, feats, c.size), REMATCH)
    return got if isinstance(got, Location) else not_found(c.file_id, c.path, got)


def locate_all(
    target: Target,
    candidates: Sequence[Candidate],
    photos: RedescribedPhotos,
    should_stop: Callable[[], bool] | None = None,
    on_location: Callable[[Location], None] | None = None,
    workers: int | None = None,
) -> list[Location]:
    """Each candidate's ``Location``, in their order: stages 0 and 1 first, then stage 2 on a
    pool of ``workers`` threads (default: the available cores) for the rest. ``on_location``
    hears each as it is decided (stored-data outlines first); a stop leaves the rest out."""
    stop = should_stop or (lambda: False)
    tell = on_location or (lambda loc: None)
    done: dict[int, Location] = {}
    rest = []
    for i, c in enumerate(candidates):
        if stop():
            return [done[k] for k in sorted(done)]
        got = quick(target, c)
        if isinstance(got, Location):
            done[i] = got
            tell(got)
        else:
            rest.append(i)

    def job(i: int) -> Location | None:
        return None if stop() else rematch(target, candidates[i], photos)

    if rest:
        n = max(1, min(len(rest), workers or available_cores()))
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="rematch") as pool:
            futures = {pool.submit(job, i): i for i in rest}
            for fut in as_completed(futures):
                loc = fut.result()
                if loc is not None:
                    done[futures[fut]] = loc
                    tell(loc)
    return [done[k] for k in sorted(done)]


# ----------------------------------------------------------------------------- photo files


def locate_files(
    query: PhotoSource,
    photos: Sequence[str | os.PathLike],
    book: Codebook,
    point: tuple[float, float] | None = None,
    box: Box | None = None,
    settings: DescribeSettings = DEFAULT,
) -> list[Location]:
    """The object under ``point`` (or in ``box``, or the whole query) in photo files outside a
    library, by the library's path: the query described as a search describes it, each photo
    as a library stores it (RootSIFT, its code with float16 keypoints) and checked as a search
    checks it, then the same stages. ``file_id`` is the photo's index in ``photos``. Raises
    ``BadImageError`` for a query that cannot be read."""
    d = describe(query, box, settings=settings)
    size = d.original_size
    code = encode_query(d.feats, book)
    region = d.box or (0.0, 0.0, float(size[0]), float(size[1]))
    if point is not None and (problem := click_problem(point, d.box, size)):
        return [
            Location(i, os.fspath(p), None, None, None, 0.0, problem) for i, p in enumerate(photos)
        ]
    if point is None:
        target = box_target(query, code, d.box, size)
    else:
        target = click_target(query, point, book, settings)
    candidates, unread = [], {}
    for i, p in enumerate(photos):
        try:
            pd = describe(p, settings=settings)
        except (BadImageError, OSError) as e:
            unread[i] = not_found(i, os.fspath(p), f"cannot read: {e}")
            continue
        pc = encode(pd.feats, book)
        check = verify_query(code, region, pc, pd.original_size)
        candidates.append(Candidate(i, os.fspath(p), os.fspath(p), pd.original_size, check, pc))
    located = locate_all(target, candidates, RedescribedPhotos(len(candidates) + 1))
    by_index = {loc.file_id: loc for loc in located} | unread
    return [by_index[i] for i in range(len(photos))]


class RedescribedPhotos:
    """Photos described again from their files for stage 2, kept by (path, mtime, size): a
    photo changed on disk is described again. At most ``capacity`` are kept (descriptors as
    float16, about 0.8 MB a photo); ``described`` counts the descriptions made."""

    def __init__(self, capacity: int = 64, settings: DescribeSettings = REMATCH_SETTINGS) -> None:
        self.capacity = max(1, int(capacity))
        self.settings = settings
        self.described = 0
        self._items: OrderedDict[tuple, LocalFeatures] = OrderedDict()
        self._lock = threading.Lock()

    def features(self, path: str) -> LocalFeatures:
        """The photo's features at ``settings``. Raises ``BadImageError`` or ``OSError``."""
        st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        f = local_features(path, settings=self.settings)
        f = LocalFeatures(f.kp, f.desc.astype(np.float16))
        with self._lock:
            self.described += 1
            self._items[key] = f
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return f
