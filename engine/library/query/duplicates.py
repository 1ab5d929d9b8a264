"""Near-duplicate groups by geometric verification, never by chains of similar descriptors.

Candidate pairs come from two cheap passes: perceptual hashes within ``PHASH_BITS`` bits of
each other, and each photo's ``NEIGHBOURS`` nearest photos in the local inverted file. Each
candidate pair is judged on the stored codes and small pictures (``copies.py``: the transform,
the cover, the content, and the global signal for low-texture pictures). Groups are the
connected components of the pairs of copies; every pair keeps its evidence. Because each link
needs near-identical content, a chain cannot join photos that merely look alike.

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
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from engine.library.index.inverted import LocalIndex
from engine.library.query import trash
from engine.library.query.copies import (  # noqa: F401  (re-exported: mining, tests)
    MIN_COVER,
    MIN_INLIERS,
    MIN_RATIO,
    Judge,
    Pair,
    _cover,
    content_differs,
    near_identity,
)
from engine.library.query.results import Hit
from engine.library.store import Store
from engine.tasks import ProgressFn, Rate, StopFn, stage

#: perceptual-hash bits within which a pair is a candidate
PHASH_BITS = 12
#: nearest photos in the inverted file that are candidates
NEIGHBOURS = 6


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
    hash_rate, hash_report = Rate(), stage(progress, 0.0, 0.2)
    for start in range(0, len(ids), 1024):
        if should_stop is not None and should_stop():
            return cands, close
        if hash_report is not None:
            hash_rate.update(start)
            text = hash_rate.text(start, len(ids))
            hash_report(start, len(ids), f"comparing perceptual hashes: {text}")
        x = np.bitwise_count(u[start : start + 1024, None] ^ u[None, :])
        for i, j in zip(*np.nonzero(x <= PHASH_BITS), strict=True):
            a, b = int(ids[start + i]), int(ids[j])
            if a < b:
                cands.add((a, b))
                close[(a, b)] = int(x[i, j])
    total, rate, words_report = max(len(ids), 1), Rate(), stage(progress, 0.2, 1.0)
    for n, (fid, code) in enumerate(store.codes.iter_local_codes(codebook), 1):
        if should_stop is not None and should_stop():
            break
        if len(code.words):
            _, I = li.ivf.search(code.words, code.bits, NEIGHBOURS + 1)
            cands.update((min(fid, int(j)), max(fid, int(j))) for j in I if int(j) != fid)
        if words_report is not None and (n % 64 == 0 or n == total):
            rate.update(n)
            words_report(n, total, f"finding candidate pairs: {rate.text(n, total)}")
    return cands, close


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
    cands_set, close = candidate_pairs(store, li, codebook, stage(progress, 0.05, 0.2), stop)
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
