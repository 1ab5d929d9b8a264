"""A library search, step by step: decode the query once, describe it (network descriptor and
RootSIFT codes), score every photo by the local inverted file and the global index, verify
the best geometrically and assemble the hits (``engine.match.rank`` does the ranking)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from engine.library.index.inverted import LocalIndex
from engine.library.index.vector_index import VectorIndex
from engine.library.query.results import Hit
from engine.library.store import FileRow, ModelRow, Store
from engine.match import Codebook, QueryCode, encode_query
from engine.match.rank import PIPELINES, VERIFY_TOP, rank_database
from engine.match.verify import Verification, verify_code
from engine.match.workers import describe
from engine.network.extract import Box, Extraction, Extractor, Prepared
from engine.photo.decode import PhotoSource, describe_source

#: global neighbours merged with the local scores (the others count as global similarity 0)
GLOBAL_SHORTLIST = 1000


@dataclass
class Query:
    """A decoded query: the network's view of it and its local features."""

    extraction: Extraction
    code: QueryCode
    box: Box  # the region searched, in original pixels (the whole photo when no box)


def describe_query(
    src: PhotoSource, box: Box | None, ex: Extractor, book: Codebook, max_features: int = 1000
) -> Query:
    """One decode: RootSIFT at the local size, the network's input from the same pixels."""
    d = describe(
        src,
        book,
        box,
        ex.image_size,
        max_features=max_features,
        keep_features=True,
        encode_code=False,
    )
    pixels = torch.from_numpy(d.pixels.copy()).permute(2, 0, 1).contiguous()
    out = ex.run([Prepared(pixels, d.original_size, d.box, describe_source(src))])[0]
    region = d.box or (0.0, 0.0, float(d.original_size[0]), float(d.original_size[1]))
    return Query(out, encode_query(d.feats, book), tuple(region))


def rank(
    q: Query,
    store: Store,
    book: Codebook,
    li: LocalIndex | None,
    vi: VectorIndex | None,
    row: ModelRow,
    pipeline: str,
    allowed_ids: np.ndarray | None,
    exclude_id: int | None,
    verify_top: int,
    k: int,
    global_weight: float = 0.0,
) -> tuple[list[Hit], int]:
    """The top ``k`` hits and the number of verified matches."""
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be one of {', '.join(PIPELINES)}")
    ids = li.ivf.ids if li is not None else np.zeros(0, np.int64)
    local = li.ivf.scores(*q.code.terms(len(li.ivf))) if li is not None else None
    g_ids = np.zeros(0, np.int64)
    g_sim = np.zeros(0, np.float32)
    if pipeline != "local" and vi is not None and vi.ntotal:
        want = min(vi.ntotal, max(GLOBAL_SHORTLIST, k + verify_top + 1))
        D, I = vi.search(q.extraction.descriptor[None], want, allowed_ids)
        keep = I[0] >= 0
        g_ids, g_sim = I[0][keep].astype(np.int64), D[0][keep]
    universe = np.union1d(ids, g_ids) if pipeline != "local" else ids
    n = len(universe)
    local_u = np.zeros(n, np.float32)
    if local is not None and len(ids):
        local_u[np.searchsorted(universe, ids)] = local
    global_u = None
    if pipeline != "local":
        global_u = np.zeros(n, np.float32)
        global_u[np.searchsorted(universe, g_ids)] = g_sim
    allowed = np.ones(n, bool)
    if allowed_ids is not None:
        allowed &= np.isin(universe, allowed_ids)
    if exclude_id is not None:
        allowed &= universe != exclude_id
    rows: dict[int, FileRow] = {}

    def file_row(fid: int) -> FileRow | None:
        if fid not in rows:
            rows.update(store.files.files_by_ids([fid]))
        return rows.get(fid)

    def verify(pos: int) -> Verification:
        fid = int(universe[pos])
        code = store.codes.local_codes_for(book.fingerprint, [fid]).get(fid)
        r = file_row(fid)
        if code is None or r is None or not r.width:
            return Verification.none()
        return verify_code(q.code.assign, q.code.feats.kp, q.box, code, (r.width, r.height))

    ranking = rank_database(
        n,
        pipeline,
        global_u,
        local_u,
        verify if li is not None else None,
        verify_top,
        global_weight,
        allowed=allowed,
    )
    top = [int(p) for p in ranking.order[: k + 8] if allowed[p]]
    rows.update(
        store.files.files_by_ids(int(universe[p]) for p in top if int(universe[p]) not in rows)
    )
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
            )
        )
        if len(hits) == k:
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


__all__ = ["VERIFY_TOP", "Query", "describe_query", "query_name", "rank", "timer"]
