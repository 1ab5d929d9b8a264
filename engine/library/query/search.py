"""Ranking a library for one query: score every photo by the local inverted file and the global
index, verify the best through the query's evidence, and assemble the hits
(``engine.match.rank`` orders them, as for ``evaluate``)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from engine.errors import ConfigError
from engine.library.index.inverted import LocalIndex
from engine.library.index.vector_index import VectorIndex
from engine.library.query.results import Hit
from engine.library.query.session import Evidence, Query
from engine.library.store import Store
from engine.match.rank import PIPELINES, VERIFY_TOP, rank_database
from engine.match.verify import MIN_INLIERS
from engine.photo.decode import PhotoSource

#: global neighbours merged with the local scores (the others count as global similarity 0)
GLOBAL_SHORTLIST = 1000
#: a query with fewer local features than a verified match needs inliers can match nothing
MIN_QUERY_FEATURES = MIN_INLIERS
#: a query whose pixels vary less than this (standard deviation, 0–255) is one flat colour
FLAT_CONTRAST = 2.0


def too_little_detail(q: Query, pipeline: str) -> bool:
    """Whether ``q`` is too featureless to search: a flat image for every pipeline, and for
    those that rank by local features, fewer features than one verified match needs. Its
    search lists nothing (ranking it would list photos at score 0, in file order)."""
    if q.contrast < FLAT_CONTRAST:
        return True
    return pipeline != "global" and len(q.code.feats) < MIN_QUERY_FEATURES


@dataclass
class SearchRequest:
    """What to rank: ``pipeline`` (fused, local or global), the ``k`` hits wanted, how many of
    the best to verify, the photos allowed (a folder filter; None: all) and the one left out
    (the query photo itself), and the weight of the network's cosine."""

    pipeline: str = "fused"
    k: int = 20
    verify_top: int = VERIFY_TOP
    allowed_ids: np.ndarray | None = None
    exclude_id: int | None = None
    global_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.pipeline not in PIPELINES:
            raise ValueError(f"pipeline must be one of {', '.join(PIPELINES)}")
        if self.k < 1:
            raise ConfigError(f"ask for at least one result, not {self.k}")
        if self.pipeline != "global" and self.verify_top < 1:
            # "no match" is only said of photos checked geometrically
            raise ConfigError(f"check at least one photo geometrically, not {self.verify_top}")


def _global_scores(q: Query, req: SearchRequest, vi: VectorIndex | None):
    """``(ids, similarities)`` of the query's global neighbours (empty for the local pipeline)."""
    if req.pipeline == "local" or vi is None or not vi.ntotal:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    want = min(vi.ntotal, max(GLOBAL_SHORTLIST, req.k + req.verify_top + 1))
    D, I = vi.search(q.extraction.descriptor[None], want, req.allowed_ids)
    keep = I[0] >= 0
    return I[0][keep].astype(np.int64), D[0][keep]


def rank(
    q: Query,
    req: SearchRequest,
    evidence: Evidence,
    li: LocalIndex | None,
    vi: VectorIndex | None,
) -> tuple[list[Hit], int]:
    """The top ``req.k`` hits and the number of verified matches. Verification goes through
    ``evidence``: photos it already checked for this query are not checked again."""
    ids = li.ivf.ids if li is not None else np.zeros(0, np.int64)
    local = li.ivf.scores(*q.code.terms(len(li.ivf))) if li is not None else None
    g_ids, g_sim = _global_scores(q, req, vi)
    universe = np.union1d(ids, g_ids) if req.pipeline != "local" else ids
    n = len(universe)
    local_u = np.zeros(n, np.float32)
    if local is not None and len(ids):
        local_u[np.searchsorted(universe, ids)] = local
    global_u = None
    if req.pipeline != "local":
        global_u = np.zeros(n, np.float32)
        global_u[np.searchsorted(universe, g_ids)] = g_sim
    allowed = np.ones(n, bool)
    if req.allowed_ids is not None:
        allowed &= np.isin(universe, req.allowed_ids)
    if req.exclude_id is not None:
        allowed &= universe != req.exclude_id

    def verify(positions: list[int]):
        checks = evidence.of(int(universe[p]) for p in positions)
        return list(checks.values())

    ranking = rank_database(
        n,
        req.pipeline,
        global_u,
        local_u,
        verify if li is not None else None,
        req.verify_top,
        req.global_weight,
        allowed=allowed,
    )
    top = [int(p) for p in ranking.order[: req.k + 8] if allowed[p]]
    rows = evidence.store.files.files_by_ids(int(universe[p]) for p in top)
    hits: list[Hit] = []
    for pos in top:
        r = rows.get(int(universe[pos]))
        if r is None:  # gone meanwhile
            continue
        v = ranking.checks.get(pos)
        hits.append(
            Hit(
                r.id,
                r.display_path,
                float(ranking.score[pos]),
                r.width,
                r.height,
                inliers=None if v is None else v.inliers,
                global_score=None if global_u is None else float(global_u[pos]),
                local_score=None if local is None else float(local_u[pos]),
                verified=bool(v is not None and v.verified),
                quad=None if v is None or v.quad is None else v.quad.round(1).tolist(),
                evidence=v,
                on_disk=os.path.exists(r.path),
            )
        )
        if len(hits) == req.k:
            break
    return hits, ranking.matches


def query_name(query: PhotoSource) -> str:
    if isinstance(query, (str, os.PathLike)):
        return os.fsdecode(query)
    return "<image>"


def timer():
    t = time.perf_counter()
    while True:
        now = time.perf_counter()
        yield now - t
        t = now


__all__ = ["VERIFY_TOP", "SearchRequest", "query_name", "rank", "timer", "too_little_detail"]


def own_file_id(store: Store, query: PhotoSource) -> int | None:
    """The library's id for a query photo that is itself in the library (also when reached
    through a symbolic link): it is left out of its own results, and a region of a photo does
    not find its own photo either."""
    if not isinstance(query, (str, os.PathLike)):
        return None
    r = store.files.file_by_path(query)
    if r is None and (stored := store.files.as_stored(os.path.realpath(query))) is not None:
        r = store.files.file_by_path(stored)
    return r.id if r else None


def folder_in_library(store: Store, folder: str | os.PathLike) -> str:
    """``folder`` as the library names it: itself when a registered folder holds it, else the
    same folder reached through a symbolic link (either way round); refused when it is in
    none (a search limited to it would only say "no results")."""
    stored = store.files.as_stored(folder)
    if stored is None:
        raise ConfigError(f"{os.fsdecode(folder)}: not inside a folder of this library")
    return os.fsdecode(stored)
