"""Near-duplicate groups by geometric verification, never by chains of similar descriptors.

Candidate pairs come from two cheap passes: perceptual hashes within ``PHASH_BITS`` bits of
each other, and each photo's ``NEIGHBOURS`` nearest photos in the local inverted file. Each
candidate pair is verified on the stored codes. A pair is a near-duplicate when the
transform is close to a similarity with little rotation and no perspective (a resize, a
recompression, a small crop: ``near_identity``), the inliers are a fair share of the
features (small photos, enlarged for SIFT, keep few stable ones: 5 % at 128 px) and one
photo covers most of the other — the test that separates a copy from another photo of the
same object — and, mapped onto each other, the two photos show the same content: shots from
a fixed camera where something moved share their background exactly, but differ where it
moved (``content_differs``). Groups are the connected components of
such pairs; every pair keeps its evidence. Because each link needs near-identical content, a
chain cannot join photos that merely look alike.

Paths that reach one file (a symbolic link and its target, hard links; told by device and
inode) are one photo, never a pair: a group lists each file once, with its other paths
(``Member.links``), and what may go to the trash is decided from the disk by ``trash.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from engine.library.index.inverted import LocalIndex
from engine.library.query import trash
from engine.library.query.results import Hit
from engine.library.store import Store
from engine.match.verify import box_quad, project, verify_codes

#: perceptual-hash bits within which a pair is a candidate
PHASH_BITS = 12
#: nearest photos in the inverted file that are candidates
NEIGHBOURS = 6
#: a duplicate is a verified pair (the one verifier's verdict) with at least this many inliers,
#: making at least ``MIN_RATIO`` of the smaller photo's features (the ``threshold``)
MIN_INLIERS = 20
MIN_RATIO = 0.05
#: the transform: rotation below this (degrees); the perspective terms change the projective
#: denominator by at most this across the photo
MAX_ROTATION = 8.0
MAX_PERSPECTIVE = 0.05
#: the smaller photo, mapped into the larger, covers at least this share of it
MIN_COVER = 0.6
#: the content check: photos compared at this long side; a pixel differs beyond this many
#: standard deviations; a duplicate differs on at most this share of the overlap (measured:
#: 0.00 for a resized recompressed copy and a crop, 0.42–0.57 between shots of a tripod
#: camera where a chessboard moved — OpenCV's calibration photos, which share their
#: background exactly and used to form one group)
CONTENT_SIDE = 160
DIFFERENT = 0.5
MAX_DIFFERING = 0.1


@dataclass
class Pair:
    a: int
    b: int
    inliers: int
    ratio: float
    cover: float

    def to_dict(self, paths: dict[int, str]) -> dict:
        return {
            "a": paths.get(self.a),
            "b": paths.get(self.b),
            "inliers": self.inliers,
            "inlier_ratio": round(self.ratio, 3),
            "cover": round(self.cover, 3),
        }


@dataclass
class Member(Hit):
    """One photo of a group: a file, shown at ``path`` (its real path when the library holds
    it), with the library's other paths to the same file (``links``); ``outside`` when its real
    file lies outside every indexed folder (never offered for the trash)."""

    links: list[str] = field(default_factory=list)
    outside: bool = False


class DuplicateGroup(list):
    """The group's photos (``Member`` items, one per file, sorted by path), ``pairs``: its
    evidence, and ``roots``: the indexed folders' real paths (None for a group made by hand:
    then only the photo kept, and every link to it, are protected)."""

    def __init__(
        self, hits: list[Hit], pairs: list[Pair] | None = None, roots: list[bytes] | None = None
    ) -> None:
        super().__init__(hits)
        self.pairs = pairs or []
        self.roots = roots

    def trash_plan(self, keep: str) -> trash.TrashPlan:
        """Keeping the photo at ``keep``: the files that would go to the trash and those that
        stay, with their reasons, as the disk is now (see ``trash.py``)."""
        links = {m.path: list(getattr(m, "links", [])) for m in self}
        kept = next((p for p, ls in links.items() if keep == p or keep in ls), None)
        if kept is None:
            raise ValueError(f"{keep} is not in this group")
        others = {p: ls for p, ls in links.items() if p != kept}
        return trash.plan(kept, links[kept], others, self.roots)


def connected_components(edges: Iterable[tuple[int, int]]) -> list[list[int]]:
    """The groups of nodes that ``edges`` join (union-find), each sorted."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for x in list(parent):
        groups.setdefault(find(x), []).append(x)
    return [sorted(g) for g in groups.values()]


def near_identity(H: np.ndarray, size: tuple[float, float]) -> bool:
    """A similarity-like transform over a photo of ``size``: no perspective, little rotation,
    no shear."""
    H = H / H[2, 2]
    if abs(H[2, 0]) * size[0] + abs(H[2, 1]) * size[1] > MAX_PERSPECTIVE:
        return False
    a = H[:2, :2]
    sx, sy = np.linalg.norm(a[:, 0]), np.linalg.norm(a[:, 1])
    if min(sx, sy) <= 0 or max(sx, sy) / min(sx, sy) > 1.1:
        return False
    angle = np.degrees(np.arctan2(a[1, 0], a[0, 0]))
    return abs(angle) <= MAX_ROTATION


def content_differs(
    path_a: str, path_b: str, H: np.ndarray, a_size, b_size, side: int = CONTENT_SIDE
) -> float | None:
    """The share of the overlap where the two photos differ, once photo a is mapped onto
    photo b by ``H`` (both small, grey, blurred, brightness and contrast normalised): about
    0 for a copy, a resize, a recompression or a crop; large for another shot from the same
    spot where something moved. None when a photo cannot be read."""
    import cv2

    from engine.errors import BadImageError
    from engine.photo.decode import load_photo

    try:
        ga = np.asarray(load_photo(path_a, max_side=side).image.convert("L"), np.float32)
        gb = np.asarray(load_photo(path_b, max_side=side).image.convert("L"), np.float32)
    except (BadImageError, OSError):
        return None
    sa = np.diag([ga.shape[1] / a_size[0], ga.shape[0] / a_size[1], 1.0])
    sb = np.diag([gb.shape[1] / b_size[0], gb.shape[0] / b_size[1], 1.0])
    hs = sb @ H @ np.linalg.inv(sa)
    size = (gb.shape[1], gb.shape[0])
    warped = cv2.warpPerspective(ga, hs, size)
    inside = cv2.warpPerspective(np.ones_like(ga), hs, size) > 0.99
    inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if inside.sum() < 64:
        return None
    x = cv2.GaussianBlur(warped, (5, 5), 0)[inside]
    y = cv2.GaussianBlur(gb, (5, 5), 0)[inside]
    x = (x - x.mean()) / (x.std() + 1e-6)
    y = (y - y.mean()) / (y.std() + 1e-6)
    return float((np.abs(x - y) > DIFFERENT).mean())


def _cover(H: np.ndarray, a_size, b_size) -> float:
    """Share of the smaller photo's area that lands inside the other, in its coordinates."""
    import cv2

    quad = project(H, box_quad((0, 0, *a_size)))
    ab = abs(cv2.contourArea(quad.astype(np.float32)))
    bw, bh = b_size
    inter, _ = cv2.intersectConvexConvex(quad.astype(np.float32), box_quad((0, 0, bw, bh)))
    return float(inter / max(min(ab, bw * bh), 1.0))


def candidate_pairs(store: Store, li: LocalIndex, codebook: str) -> set[tuple[int, int]]:
    cands: set[tuple[int, int]] = set()
    ids, hashes = store.codes.phashes(codebook)
    u = hashes.view(np.uint64)
    for start in range(0, len(ids), 1024):
        x = np.bitwise_count(u[start : start + 1024, None] ^ u[None, :])
        for i, j in zip(*np.nonzero(x <= PHASH_BITS), strict=True):
            a, b = int(ids[start + i]), int(ids[j])
            if a < b:
                cands.add((a, b))
    for fid, code in store.codes.iter_local_codes(codebook):
        if not len(code.words):
            continue
        _, I = li.ivf.search(code.words, code.bits, NEIGHBOURS + 1)
        cands.update((min(fid, int(j)), max(fid, int(j))) for j in I if int(j) != fid)
    return cands


def _judge_pair(a: int, b: int, rows: dict, ca, cb, min_ratio: float) -> Pair | None:
    """The evidence that photos ``a`` and ``b`` (their file ``rows``, their stored local codes
    ``ca``, ``cb``) are near-duplicates, or None when they are not (or cannot be told)."""
    if ca is None or cb is None or min(len(ca), len(cb)) < MIN_INLIERS:
        return None
    sa, sb = (rows[a].width, rows[a].height), (rows[b].width, rows[b].height)
    if sa[0] * sa[1] > sb[0] * sb[1]:  # map the smaller photo into the larger
        a, b, ca, cb, sa, sb = b, a, cb, ca, sb, sa
    v = verify_codes(ca, sa, cb, sb)
    if not v.verified or v.H is None or v.inliers < MIN_INLIERS:
        return None
    ratio = v.inliers / min(len(ca), len(cb))
    if ratio < min_ratio or not near_identity(v.H, sa):
        return None
    cover = _cover(v.H, sa, sb)
    if cover < MIN_COVER:
        return None
    differs = content_differs(rows[a].display_path, rows[b].display_path, v.H, sa, sb)
    if differs is not None and differs <= MAX_DIFFERING:
        return Pair(min(a, b), max(a, b), v.inliers, ratio, cover)
    return None


class SameFiles:
    """The library's paths grouped by the file they reach (device and inode): ``rep[id]`` is
    the file id that stands for every path to that file."""

    def __init__(self, rows: dict, roots: list[bytes]) -> None:
        self.rows, self.roots = rows, roots
        by_file: dict[tuple[int, int], list[int]] = {}
        for i, r in rows.items():
            key = trash.identity(r.path)
            if key is not None:
                by_file.setdefault(key, []).append(i)
        self.rep = {i: i for i in rows}
        self.paths: dict[int, list[int]] = {i: [i] for i in rows}
        for ids in by_file.values():
            ids.sort(key=self._shown_first)
            self.paths[ids[0]] = ids
            for i in ids:
                self.rep[i] = ids[0]

    def _shown_first(self, i: int) -> tuple:
        """A file's path shown first: its real path over a link, then by name."""
        p = self.rows[i].path
        return (os.path.islink(p) or os.path.realpath(p) != p, p)

    def member(self, rep: int, inliers: int) -> Member:
        r = self.rows[rep]
        links = [self.rows[i].display_path for i in self.paths[rep][1:]]
        outside = not trash.inside(r.path, self.roots)
        return Member(
            rep,
            r.display_path,
            1.0,
            r.width,
            r.height,
            inliers=inliers,
            verified=True,
            links=links,
            outside=outside,
        )


def _group(members: list[int], pairs: list[Pair], same: SameFiles) -> DuplicateGroup:
    """One group: its photos (one per file) sorted by path, each with its best pair's inliers,
    and the pairs that join them."""
    group = set(members)
    best = {m: max((p.inliers for p in pairs if m in (p.a, p.b)), default=0) for m in members}
    hits = sorted((same.member(m, best[m]) for m in members), key=lambda h: h.path)
    return DuplicateGroup(hits, [p for p in pairs if p.a in group], same.roots)


def _best_per_file_pair(pairs: list[Pair]) -> list[Pair]:
    """One pair per two files (the one with the most inliers), in order."""
    best: dict[tuple[int, int], Pair] = {}
    for p in pairs:
        if (p.a, p.b) not in best or p.inliers > best[(p.a, p.b)].inliers:
            best[(p.a, p.b)] = p
    return sorted(best.values(), key=lambda p: (p.a, p.b))


def find_duplicates(
    store: Store, li: LocalIndex, codebook: str, min_ratio: float = MIN_RATIO, should_stop=None
) -> list[DuplicateGroup]:
    """Groups of near-duplicates, largest first, each sorted by path, with their evidence."""
    cands = sorted(candidate_pairs(store, li, codebook))
    involved = sorted({i for p in cands for i in p})
    rows = store.files.files_by_ids(involved)
    same = SameFiles(rows, trash.real_roots([fp for _, fp in store.files.folders()]))
    pairs: list[Pair] = []
    codes: dict = {}
    for a, b in cands:
        if should_stop is not None and should_stop():
            return []
        if a not in rows or b not in rows or not rows[a].width or not rows[b].width:
            continue
        if same.rep[a] == same.rep[b]:  # two paths to one file: one photo, never a pair
            continue
        for i in (a, b):
            if i not in codes:
                codes.update(store.codes.local_codes_for(codebook, [i]))
        pair = _judge_pair(a, b, rows, codes.get(a), codes.get(b), min_ratio)
        if pair is not None:  # between the files, whichever paths were compared
            ra, rb = sorted((same.rep[a], same.rep[b]))
            pairs.append(Pair(ra, rb, pair.inliers, pair.ratio, pair.cover))
    pairs = _best_per_file_pair(pairs)
    out = [_group(ms, pairs, same) for ms in connected_components((p.a, p.b) for p in pairs)]
    out.sort(key=lambda g: (-len(g), g[0].path))
    return out
