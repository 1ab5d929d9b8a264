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

A rotated copy is still a copy: the transform may turn by a quarter, a half or three quarters
(pixels stored sideways; a photo whose EXIF orientation turns it is read upright anyway).
Content is compared on local structure, so a copy whose tones were adjusted (gamma,
contrast, saturation, a tint) or that carries a watermark still shows the same content.

Smooth, low-texture pictures (sky, fog, a long motion blur) keep too few local features for
the geometry to decide. For a candidate pair whose features find no transform, a global
signal decides instead: the perceptual hashes are close (``GLOBAL_PHASH_BITS``), the shapes
agree and, one resized onto the other, the two pictures differ nowhere (``same_picture``).

*Similar shots* are kept apart: pairs whose features verify and overlap but whose transform
or content says they are not the same picture (a burst where something moved, another shot
from the same spot). They are groups of their own (``kind == "similar"``) that the window lists
separately and never offers to trash as copies.

Paths that reach one file (a symbolic link and its target, hard links; told by device and
inode) are one photo, never a pair: a group lists each file once, with its other paths
(``Member.links``), and what may go to the trash is decided from the disk by ``trash.py``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from engine.library.index.inverted import LocalIndex
from engine.library.query import trash
from engine.library.query.results import Hit
from engine.library.store import Store
from engine.match.verify import box_quad, project, verify_codes
from engine.tasks import ProgressFn, Rate, StopFn, stage

#: perceptual-hash bits within which a pair is a candidate
PHASH_BITS = 12
#: nearest photos in the inverted file that are candidates
NEIGHBOURS = 6
#: a duplicate is a verified pair (the one verifier's verdict) with at least this many inliers,
#: making at least ``MIN_RATIO`` of the smaller photo's features (the ``threshold``)
MIN_INLIERS = 20
MIN_RATIO = 0.05
#: the transform: rotation within this (degrees) of a multiple of 90; the perspective terms
#: change the projective denominator by at most this across the photo
MAX_ROTATION = 8.0
MAX_PERSPECTIVE = 0.05
#: the smaller photo, mapped into the larger, covers at least this share of it
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


@dataclass
class Member(Hit):
    """One photo of a group: a file, shown at ``path`` (its real path when the library holds
    it), with the library's other paths to the same file (``links``); ``outside`` when its real
    file lies outside every indexed folder (never offered for the trash)."""

    links: list[str] = field(default_factory=list)
    outside: bool = False


class DuplicateGroup(list):
    """The group's photos (``Member`` items, one per file, sorted by path), ``pairs``: its
    evidence, ``roots``: the indexed folders' real paths (None for a group made by hand:
    then only the photo kept, and every link to it, are protected), and ``kind``: "copies"
    (the same picture) or "similar" (similar shots: never offered to trash as copies)."""

    def __init__(
        self,
        hits: list[Hit],
        pairs: list[Pair] | None = None,
        roots: list[bytes] | None = None,
        kind: str = "copies",
    ) -> None:
        super().__init__(hits)
        self.pairs = pairs or []
        self.roots = roots
        self.kind = kind

    def trash_plan(self, keep: str) -> trash.TrashPlan:
        """Keeping the photo at ``keep``: the files that would go to the trash and those that
        stay, with their reasons, as the disk is now (see ``trash.py``)."""
        links = {m.path: list(getattr(m, "links", [])) for m in self}
        kept = next((p for p, ls in links.items() if keep == p or keep in ls), None)
        if kept is None:
            raise ValueError(f"{keep} is not in this group")
        others = {p: ls for p, ls in links.items() if p != kept}
        return trash.plan(kept, links[kept], others, self.roots)


class DuplicateGroups(list):
    """``find_duplicates``'s groups (copies first, then similar shots), with how far it got:
    ``checked`` of ``candidates`` pairs; ``stopped`` when it was asked to stop early (the
    groups are then those of the pairs checked so far)."""

    def __init__(self, groups=(), checked: int = 0, candidates: int = 0, stopped: bool = False):
        super().__init__(groups)
        self.checked, self.candidates, self.stopped = checked, candidates, stopped

    @property
    def copies(self) -> list[DuplicateGroup]:
        return [g for g in self if g.kind == "copies"]

    @property
    def similar(self) -> list[DuplicateGroup]:
        return [g for g in self if g.kind == "similar"]


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
    """Share of the smaller photo's area that lands inside the other, in its coordinates."""
    quad = project(H, box_quad((0, 0, *a_size))).astype(np.float64)
    bw, bh = b_size
    inter = _area(_clip(quad, float(bw), float(bh)))
    return float(inter / max(min(_area(quad), bw * bh), 1.0))


def candidate_pairs(
    store: Store,
    li: LocalIndex,
    codebook: str,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> tuple[set[tuple[int, int]], dict[tuple[int, int], int]]:
    """Pairs worth verifying, and the perceptual hashes' distance of those found by hash."""
    cands: set[tuple[int, int]] = set()
    close: dict[tuple[int, int], int] = {}
    ids, hashes = store.codes.phashes(codebook)
    u = hashes.view(np.uint64)
    for start in range(0, len(ids), 1024):
        x = np.bitwise_count(u[start : start + 1024, None] ^ u[None, :])
        for i, j in zip(*np.nonzero(x <= PHASH_BITS), strict=True):
            a, b = int(ids[start + i]), int(ids[j])
            if a < b:
                cands.add((a, b))
                close[(a, b)] = int(x[i, j])
    total, rate = max(len(ids), 1), Rate()
    for n, (fid, code) in enumerate(store.codes.iter_local_codes(codebook), 1):
        if should_stop is not None and should_stop():
            break
        if len(code.words):
            _, I = li.ivf.search(code.words, code.bits, NEIGHBOURS + 1)
            cands.update((min(fid, int(j)), max(fid, int(j))) for j in I if int(j) != fid)
        if progress is not None and (n % 64 == 0 or n == total):
            rate.update(n)
            progress(n, total, f"finding candidate pairs: {rate.text(n, total)}")
    return cands, close


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
                return self._geometry(a, b, v, min(len(ca), len(cb)), sa, sb)
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


def _group(
    members: list[int], pairs: list[Pair], same: SameFiles, kind: str = "copies"
) -> DuplicateGroup:
    """One group: its photos (one per file) sorted by path, each with its best pair's inliers,
    and the pairs that join them."""
    group = set(members)
    best = {m: max((p.inliers for p in pairs if m in (p.a, p.b)), default=0) for m in members}
    hits = sorted((same.member(m, best[m]) for m in members), key=lambda h: h.path)
    return DuplicateGroup(hits, [p for p in pairs if p.a in group], same.roots, kind)


def _best_per_file_pair(pairs: list[Pair]) -> list[Pair]:
    """One pair per two files (the one with the most inliers), in order."""
    best: dict[tuple[int, int], Pair] = {}
    for p in pairs:
        if (p.a, p.b) not in best or p.inliers > best[(p.a, p.b)].inliers:
            best[(p.a, p.b)] = p
    return sorted(best.values(), key=lambda p: (p.a, p.b))


def _groups(pairs: list[Pair], same: SameFiles, kind: str) -> list[DuplicateGroup]:
    pairs = _best_per_file_pair(pairs)
    out = [_group(ms, pairs, same, kind) for ms in connected_components((p.a, p.b) for p in pairs)]
    out.sort(key=lambda g: (-len(g), g[0].path))
    return out


def find_duplicates(
    store: Store,
    li: LocalIndex,
    codebook: str,
    min_ratio: float = MIN_RATIO,
    should_stop: StopFn | None = None,
    progress: ProgressFn | None = None,
    similar: bool = False,
) -> DuplicateGroups:
    """Groups of near-duplicates, largest first, each sorted by path, with their evidence;
    with ``similar``, then the groups of similar shots (``kind == "similar"``). Asked to
    stop, it returns the groups of the pairs checked so far (``stopped``)."""
    stop = should_stop or (lambda: False)
    cands_set, close = candidate_pairs(store, li, codebook, stage(progress, 0.0, 0.2), stop)
    cands = sorted(cands_set)
    if stop():
        return DuplicateGroups([], 0, len(cands), stopped=True)
    involved = sorted({i for p in cands for i in p})
    rows = store.files.files_by_ids(involved)
    same = SameFiles(rows, trash.real_roots([fp for _, fp in store.files.folders()]))
    judge = Judge(rows, min_ratio)
    found: dict[str, list[Pair]] = {"copies": [], "similar": []}
    codes: dict = {}
    report, rate, checked = stage(progress, 0.2, 1.0), Rate(), 0
    for checked, (a, b) in enumerate(cands, 1):
        if stop():
            checked -= 1
            break
        if report is not None and (checked % 32 == 0 or checked == len(cands)):
            rate.update(checked)
            report(
                checked, len(cands), f"checking pairs: {rate.text(checked, len(cands), 'pairs')}"
            )
        if a not in rows or b not in rows or not rows[a].width or not rows[b].width:
            continue
        if same.rep[a] == same.rep[b]:  # two paths to one file: one photo, never a pair
            continue
        for i in (a, b):
            if i not in codes:
                codes.update(store.codes.local_codes_for(codebook, [i]))
        verdict = judge(a, b, codes.get(a), codes.get(b), close.get((a, b)))
        if verdict is not None:  # between the files, whichever paths were compared
            p = verdict.pair
            ra, rb = sorted((same.rep[a], same.rep[b]))
            found[verdict.kind].append(Pair(ra, rb, p.inliers, p.ratio, p.cover, p.how))
    out = _groups(found["copies"], same, "copies")
    if similar:
        copies = {(p.a, p.b) for p in found["copies"]}
        kept = [p for p in found["similar"] if (p.a, p.b) not in copies]
        out += _groups(kept, same, "similar")
    return DuplicateGroups(out, checked, len(cands), stopped=checked < len(cands))
