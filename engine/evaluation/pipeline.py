"""The product's search pipeline over an evaluation set (what ``evaluate`` measures).

Database photos are described on worker processes (RootSIFT → ASMK* codes), kept in an
in-memory inverted file, and each box-cropped query is ranked by ``engine.match.rank`` exactly
as a library search ranks it: local and/or global similarity, the top photos verified
geometrically, verified photos first.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.errors import BadImageError, VisualSearchError
from engine.match import (
    DEFAULT,
    Codebook,
    Described,
    DescribeSettings,
    InvertedFile,
    LocalCode,
    QueryCode,
    Verification,
    describe,
    encode,
    encode_query,
    local_features,
    verify_query,
)
from engine.match.describers import open_describers
from engine.match.rank import VERIFY_TOP, rank_database


def describe_database(
    paths: list[Path],
    codebook: Codebook,
    progress: Callable[[int, int, str], None] | None = None,
    settings: DescribeSettings = DEFAULT,
):
    """Codes and sizes of every photo; a photo that cannot be decoded is an error naming it."""
    codes, sizes = [], []
    with open_describers(codebook, settings) as workers:
        futures = [workers.submit(p) for p in paths]
        for i, fut in enumerate(futures):
            d = fut.result()
            if isinstance(d, BadImageError):
                raise VisualSearchError(f"{paths[i]}: {d}")
            codes.append(d.code)
            sizes.append(d.original_size)
            if progress is not None and (i % 25 == 0 or i + 1 == len(paths)):
                progress(i + 1, len(paths), "local features")
    return codes, sizes


def pipeline_ranking(
    q_paths: list[Path],
    boxes: list,
    db_paths: list[Path],
    global_sims: np.ndarray | None,
    pipeline: str,
    codebook: Codebook,
    verify_top: int = VERIFY_TOP,
    progress: Callable[[int, int, str], None] | None = None,
    global_weight: float | None = None,
) -> tuple[np.ndarray, dict]:
    """``ranking (nq, ndb)`` of every database photo per query, and timing figures."""
    n = len(db_paths)
    if pipeline == "global":
        return global_ranking(q_paths, boxes, db_paths, global_sims, codebook, verify_top), {}
    t0 = time.perf_counter()
    db = LocalDatabase.describe(db_paths, codebook, progress)
    t1 = time.perf_counter()
    queries = describe_queries(q_paths, boxes, codebook)
    t2 = time.perf_counter()
    ranking, info = db.rank(queries, global_sims, pipeline, verify_top, global_weight)
    info["local_seconds_per_1000_images"] = round(1000 * (t1 - t0) / max(n, 1), 2)
    # a query's own description (decode, RootSIFT, multiple assignment) is part of its cost
    info["ms_per_query"] += round(1000 * (t2 - t1) / max(len(q_paths), 1), 1)
    return ranking, info


def global_ranking(
    q_paths: list[Path],
    boxes: list,
    db_paths: list[Path],
    global_sims: np.ndarray,
    codebook: Codebook,
    verify_top: int = 0,
) -> np.ndarray:
    """The network's ranking, its top ``verify_top`` verified by the one verifier (each photo
    described once, when it first reaches a shortlist) and put first as a search would."""
    n = len(db_paths)
    cache = DescribedCache(codebook)
    rows = []
    for i, q in enumerate(q_paths):
        query = cache.query(q, boxes[i]) if verify_top else None

        def verify(positions: list[int], query=query) -> list[Verification]:
            out = []
            for pos in positions:
                photo = cache.photo(db_paths[pos])
                if query is None or photo is None:
                    out.append(Verification.none())
                else:
                    out.append(verify_query(query[0], query[1], photo[0], photo[1]))
            return out

        r = rank_database(n, "global", global_sims[i], None, verify, verify_top)
        rows.append(r.order)
    return np.stack(rows) if rows else np.zeros((0, n), np.int64)


def describe_queries(
    q_paths: list[Path], boxes: list, codebook: Codebook, settings: DescribeSettings = DEFAULT
) -> list:
    """``(QueryCode, region)`` of each (box-cropped) query."""
    out = []
    for q, box in zip(q_paths, boxes, strict=True):
        try:
            qf = local_features(q, box, settings)
        except BadImageError as e:
            raise VisualSearchError(f"{q}: {e}") from e
        out.append((encode_query(qf, codebook), box or (0.0, 0.0, *_size(q))))
    return out


class LocalDatabase:
    """The database photos' codes and sizes, and their inverted file."""

    def __init__(self, codes, sizes, codebook: Codebook) -> None:
        self.codes, self.sizes = codes, sizes
        self.ivf = InvertedFile.build(
            codebook.size, ((i, c.words, c.bits) for i, c in enumerate(codes))
        )

    @classmethod
    def describe(
        cls, paths, codebook: Codebook, progress=None, settings: DescribeSettings = DEFAULT
    ) -> LocalDatabase:
        codes, sizes = describe_database(paths, codebook, progress, settings)
        return cls(codes, sizes, codebook)

    def rank(
        self,
        queries,
        global_sims,
        pipeline: str,
        verify_top: int = VERIFY_TOP,
        global_weight: float | None = None,
    ):
        """``ranking (nq, ndb)`` and figures for described ``queries``."""
        n = len(self.codes)
        codes, sizes = self.codes, self.sizes
        t1 = time.perf_counter()
        rows, verified = [], 0
        for i, (qc, qbox) in enumerate(queries):
            r = rank_database(
                n,
                pipeline,
                None if global_sims is None else global_sims[i],
                self.ivf.scores(*qc.terms(len(self.ivf))),
                lambda ps, qc=qc, qbox=qbox: [
                    verify_query(qc, qbox, codes[p], sizes[p]) for p in ps
                ],
                verify_top,
                global_weight,
            )
            rows.append(r.order)
            verified += r.matches
        t2 = time.perf_counter()
        nq = max(len(queries), 1)
        info = {
            "ms_per_query": round(1000 * (t2 - t1) / nq, 1),
            "verified_per_query": round(verified / nq, 2),
            "local_bytes_per_photo": round(sum(c.nbytes for c in codes) / max(n, 1)),
        }
        return np.stack(rows) if rows else np.zeros((0, n), np.int64), info


def _size(path) -> tuple[int, int]:
    from engine.photo.decode import load_photo

    return load_photo(path, 64).original_size


class DescribedCache:
    """Photos described and coded with one codebook, per (path, box), LRU and thread-safe:
    for checking pairs of photos that are not in a library (the global pipeline's re-ranking,
    the overlap audit). A photo that cannot be read gives None."""

    def __init__(
        self, codebook: Codebook, settings: DescribeSettings = DEFAULT, capacity: int = 2048
    ) -> None:
        self.codebook = codebook
        self.settings = settings
        self.capacity = capacity
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def _get(self, src, box) -> Described | None:
        key = (os.fspath(src), tuple(box) if box else None)
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        try:
            d = describe(src, box, settings=self.settings)
            d.code = encode(d.feats, self.codebook)
        except (BadImageError, OSError):
            d = None
        with self._lock:
            self._data[key] = d
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)
        return d

    def photo(self, src) -> tuple[LocalCode, tuple[int, int]] | None:
        """A photo's code and its size ``(W, H)``, as a library stores them."""
        d = self._get(src, None)
        return None if d is None else (d.code, d.original_size)

    def query(self, src, box=None) -> tuple[QueryCode, tuple] | None:
        """A query's code (multiple assignment) and the region searched, in its pixels."""
        d = self._get(src, box)
        if d is None:
            return None
        region = d.box or (0.0, 0.0, float(d.original_size[0]), float(d.original_size[1]))
        return encode_query(d.feats, self.codebook), tuple(region)
