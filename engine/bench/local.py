"""``bench local``: the local-feature search at library scale, on codes of real photos.

Codes of ``photos`` (a folder of real photos) are replicated with perturbation up to each
library size: every replica keeps a random 80 % of its source's words, with 8 % of each
word's 128 bits flipped, so word frequencies stay those of real photos. Held-out photos of
the same folder are the queries; their descriptions (decode, RootSIFT at the default long side, the
network at its size, multiple assignment) are timed for real. Reported: the end-to-end warm
query (description + inverted-file scoring + verification of the top 50 on stored codes),
the search part alone, bytes per photo and the memory of the loaded inverted file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _replicas(codes, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        c = codes[i % len(codes)]
        keep = rng.random(len(c.words)) < 0.8
        bits = c.bits[keep].copy()
        flips = rng.random((len(bits), 128)) < 0.08
        bits ^= np.packbits(flips, axis=1)
        yield i, c.words[keep], bits


def bench_local(
    photos: str | os.PathLike,
    sizes: tuple[int, ...] = (10_000, 100_000),
    queries: int = 30,
    model: str = "default",
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    from engine.library.query.session import describe_query
    from engine.match import InvertedFile
    from engine.match.codebook import default_codebook
    from engine.match.describe import DEFAULT
    from engine.match.rank import VERIFY_TOP, rank_database
    from engine.match.verify import verify_query
    from engine.match.workers import LocalWorkers
    from engine.network.loader import open_extractor
    from engine.photo.formats import is_photo_name

    paths = sorted(p for p in Path(photos).rglob("*") if is_photo_name(os.fsencode(p.name)))
    if len(paths) < queries + 20:
        raise ValueError(f"{photos}: need at least {queries + 20} photos")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(paths))
    q_paths = [paths[i] for i in order[:queries]]
    db_paths = [paths[i] for i in order[queries:]]
    book = default_codebook()
    with LocalWorkers(book) as workers:
        described = [f.result() for f in [workers.submit(p) for p in db_paths]]
    codes = [d.code for d in described if not isinstance(d, Exception)]
    sizes_wh = [d.original_size for d in described if not isinstance(d, Exception)]
    per_photo = float(np.mean([c.nbytes for c in codes]))
    ex, _ = open_extractor(model)  # the runtime the product picks (ONNX Runtime on a CPU)
    describe_query(q_paths[0], None, ex, book, DEFAULT)  # warm
    described_q, t_describe = [], []
    for p in q_paths:
        t = time.perf_counter()
        described_q.append(describe_query(p, None, ex, book, DEFAULT))
        t_describe.append(time.perf_counter() - t)
    rows = []
    for n in sizes:
        t = time.perf_counter()
        ivf = InvertedFile.build(book.size, _replicas(codes, n))
        build = time.perf_counter() - t
        search_ms, verify_ms = [], []
        for q in described_q:
            t = time.perf_counter()
            sims = ivf.scores(*q.code.terms(n))
            t_s = time.perf_counter()

            def verify(positions, q=q):
                return [
                    verify_query(q.code, q.box, codes[p % len(codes)], sizes_wh[p % len(codes)])
                    for p in positions
                ]

            rank_database(n, "local", None, sims, verify, VERIFY_TOP)
            t_v = time.perf_counter()
            search_ms.append(1000 * (t_s - t))
            verify_ms.append(1000 * (t_v - t_s))
        total = 1000 * np.array(t_describe) + np.array(search_ms) + np.array(verify_ms)
        row = {
            "photos": n,
            "postings": ivf.postings,
            "build_s": round(build, 2),
            "index_mb": round(ivf.nbytes / 1e6, 1),
            "local_bytes_per_photo_sqlite": round(per_photo),
            "index_bytes_per_photo": round(ivf.nbytes / n),
            "describe_ms_p50": round(1000 * float(np.median(t_describe)), 1),
            "search_ms_p50": round(float(np.median(search_ms)), 1),
            "search_ms_p95": round(float(np.percentile(search_ms, 95)), 1),
            "verify_ms_p50": round(float(np.median(verify_ms)), 1),
            "query_ms_p50": round(float(np.median(total)), 1),
            "query_ms_p95": round(float(np.percentile(total, 95)), 1),
        }
        rows.append(row)
        if log:
            log(
                f"{n:>7} photos: warm query p50 {row['query_ms_p50']} ms (describe "
                f"{row['describe_ms_p50']}, search {row['search_ms_p50']}, verify "
                f"{row['verify_ms_p50']}), search p95 {row['search_ms_p95']} ms; inverted "
                f"file {row['index_mb']} MB ({row['index_bytes_per_photo']} B/photo), "
                f"{row['local_bytes_per_photo_sqlite']} B/photo in SQLite, built in "
                f"{row['build_s']} s"
            )
    return rows
