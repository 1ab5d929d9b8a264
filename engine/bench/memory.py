"""``bench memory``: a library of ``n`` photos searched in a fresh process, as a person's
``visual-search search`` would be: its peak resident memory and the search part's time.

The library is real (SQLite rows, local codes, the saved inverted file): the codes of the
real photos of ``photos`` are replicated with perturbation to ``n`` photos (as ``bench local``
does: 80 % of each photo's words kept, 8 % of their bits flipped; each keeps its source's
features for verification). Held-out photos of the folder are the queries. The searching
process opens the library, searches each query with the default pipeline and reports its
peak resident set (``VmHWM`` on Linux) and the timings the search itself records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: the searching process (a fresh interpreter): library, queries → JSON figures
SEARCHER = r"""
import json, sys, time
from engine.library import Library

def peak_mb():
    # VmHWM: this address space's peak (getrusage's maximum would count the parent's resident
    # memory at fork time: Linux keeps it across exec)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

lib_dir, queries = sys.argv[1], sys.argv[2:]
t = time.perf_counter()
with Library(lib_dir, mode="read") as lib:
    opened = time.perf_counter() - t
    search, total, scoring = [], [], []
    for q in queries:
        res = lib.search(q, k=20)
        search.append(1000 * res.timings["search"])
        total.append(1000 * res.seconds)
        ivf, code = lib.local_index().ivf, lib.query(q).code
        t = time.perf_counter()
        ivf.scores(*code.terms(len(ivf)))
        scoring.append(1000 * (time.perf_counter() - t))
print(json.dumps({
    "peak_rss_mb": peak_mb(),
    "open_s": opened,
    "search_ms": search,
    "scoring_ms": scoring,
    "query_ms": total,
}))
"""


def _build_library(directory: Path, codes, sizes, n: int, book) -> None:
    from engine.bench.local import _replicas
    from engine.library import Library
    from engine.library.networks import Networks
    from engine.library.store import FileState, Store
    from engine.match.asmk import LocalCode

    store = Store(directory)
    folder = directory / "photos"
    folder.mkdir()
    fid, _, _ = store.files.add_folder(folder)
    model = Networks(store, directory / "index").row("default").id  # what a search opens
    store.codes.ensure_codebook(book.fingerprint, book.size, book.meta)
    step = 2000
    for s in range(0, n, step):
        part = range(s, min(n, s + step))
        store.files.add_files(
            [FileState(fid, os.fsencode(folder / f"p{i:06d}.jpg"), 1000 + i, i) for i in part]
        )
    rows = sorted(store.files.files_in_folder(fid).values(), key=lambda r: r.path)
    replicas = _replicas(codes, n)
    for s in range(0, n, step):
        batch = []
        for r in rows[s : s + step]:
            i, words, bits = next(replicas)
            src = codes[i % len(codes)]
            batch.append((r, LocalCode(words, bits, src.fwords, src.kp), sizes[i % len(codes)]))
        store.vectors.record_extractions(model, [(r.id, None, wh) for r, _, wh in batch])
        store.codes.record_local(book.fingerprint, [(r.id, c, 0) for r, c, _ in batch])
    store.close()
    with Library(directory) as lib:  # builds and saves the inverted file, as indexing does
        lib.local_index()


def bench_memory(
    photos: str | os.PathLike,
    sizes: tuple[int, ...] = (100_000,),
    queries: int = 10,
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    from engine.match.codebook import default_codebook
    from engine.match.workers import LocalWorkers
    from engine.photo.formats import is_photo_name

    paths = sorted(p for p in Path(photos).rglob("*") if is_photo_name(os.fsencode(p.name)))
    if len(paths) < queries + 20:
        raise ValueError(f"{photos}: need at least {queries + 20} photos")
    order = np.random.default_rng(0).permutation(len(paths))
    q_paths = [str(paths[i]) for i in order[:queries]]
    db_paths = [paths[i] for i in order[queries:]]
    book = default_codebook()
    with LocalWorkers(book) as workers:
        described = [f.result() for f in [workers.submit(p) for p in db_paths]]
    described = [d for d in described if not isinstance(d, Exception)]
    codes = [d.code for d in described]
    wh = [d.original_size for d in described]
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="vs-bench-memory-") as tmp:
            lib = Path(tmp) / "lib"
            lib.mkdir()
            _build_library(lib, codes, wh, n, book)
            proc = subprocess.run(
                [sys.executable, "-c", SEARCHER, str(lib), *q_paths],
                capture_output=True,
                text=True,
            )
            if proc.returncode:
                raise RuntimeError(f"the searching process failed: {proc.stderr[-2000:]}")
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            cache = sum(f.stat().st_size for f in (lib / "index").glob("local-*.arrays"))
        warm = out["search_ms"][1:] or out["search_ms"]
        scoring = out["scoring_ms"][1:] or out["scoring_ms"]
        row = {
            "photos": n,
            "peak_rss_mb": round(out["peak_rss_mb"]),
            "open_s": round(out["open_s"], 2),
            "inverted_file_mb": round(cache / 1e6),
            "search_ms_p50": round(float(np.median(warm)), 1),
            "search_ms_max": round(float(np.max(warm)), 1),
            "scoring_ms_p50": round(float(np.median(scoring)), 1),
            "scoring_ms_p95": round(float(np.percentile(scoring, 95)), 1),
            "query_ms_p50": round(float(np.median(out["query_ms"][1:] or out["query_ms"])), 1),
        }
        rows.append(row)
        if log:
            log(
                f"{n:>7} photos: a fresh search process peaks at {row['peak_rss_mb']} MB "
                f"resident (inverted file {row['inverted_file_mb']} MB on disk, mapped); "
                f"inverted-file scoring p50 {row['scoring_ms_p50']} ms (p95 "
                f"{row['scoring_ms_p95']}), ranking with verification p50 "
                f"{row['search_ms_p50']} ms (max {row['search_ms_max']}), "
                f"whole query p50 {row['query_ms_p50']} ms; library opened in "
                f"{row['open_s']} s"
            )
    return rows
