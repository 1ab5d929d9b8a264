"""NumPy (the light install) against FAISS (the ``faiss`` extra) on this machine: timings to
read, not assertions.

    python scripts/bench_numpy_faiss.py [--quick] [--json FILE]     (the package installed)

1. Codebook assignment: the nearest word(s), m = 1 and 3, of 1,000 real RootSIFT descriptors
   (the bundled sample photos) among the shipped codebook's 16,384 words, ms per call.
2. Exact search: single-query latency (p50 ms) and a batch of 100 queries (ms per query) of
   10k and 100k unit vectors of dim 512 (``VectorIndex``, flat).
3. k-means: 100k clustered vectors of dim 128 into 4,096 words, 20 iterations, seconds and the
   mean squared distance of a probe to its nearest centroid (lower is better).

``--quick`` runs smaller sizes (a minute on two cores). Needs FAISS installed for its rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from engine import faiss_device
from engine.bench.library import clustered_unit_vectors
from engine.match import nearest


def _ms(fn, repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def _descriptors(n: int) -> np.ndarray:
    from engine.match import local_features
    from resources import resource_path

    paths = sorted(resource_path("samples").glob("*.jpg"))
    desc = np.concatenate([local_features(p).desc for p in paths])
    return desc[np.random.default_rng(0).permutation(len(desc))[:n]]


def bench_assign(repeat: int) -> list[dict]:
    import faiss

    from engine.match.codebook import default_codebook

    c = default_codebook().centroids
    x = _descriptors(1000)
    norms = np.einsum("ij,ij->i", c, c)
    flat = faiss.IndexFlatL2(c.shape[1])
    flat.add(c)
    rows = []
    for m in (1, 3):
        row = {"task": "assign", "descriptors": len(x), "words": len(c), "m": m}
        row["numpy_ms"] = _ms(lambda m=m: nearest.knn_l2(x, c, m, norms), repeat)
        row["faiss_ms"] = _ms(lambda m=m: flat.search(x, m), repeat)
        rows.append(row)
    return rows


def _index(xb: np.ndarray, numpy: bool):
    from engine.library.index.vector_index import VectorIndex

    faiss_device.available = (lambda: False) if numpy else (lambda: True)
    vi = VectorIndex.empty(xb.shape[1], "flat")
    vi.add(np.arange(len(xb), dtype=np.int64), xb)
    return vi


def bench_search(sizes: list[int], queries: int) -> list[dict]:
    original = faiss_device.available
    rows = []
    try:
        for n in sizes:
            x = clustered_unit_vectors(n + queries, 512, max(10, n // 100), seed=2)
            xb, xq = x[:n], x[n:]
            row = {"task": "search", "n": n, "dim": 512}
            for name, numpy in (("numpy", True), ("faiss", False)):
                vi = _index(xb, numpy)
                vi.search(xq[:5], 10)
                single = []
                for q in xq:
                    t = time.perf_counter()
                    vi.search(q[None], 10)
                    single.append(time.perf_counter() - t)
                row[f"{name}_ms_per_query"] = 1e3 * statistics.median(single)
                batch = _ms(lambda vi=vi, xq=xq: vi.search(xq, 10), 3)
                row[f"{name}_batch_ms_per_query"] = batch / len(xq)
            rows.append(row)
    finally:
        faiss_device.available = original
    return rows


def bench_kmeans(n: int, words: int, iterations: int) -> list[dict]:
    x = clustered_unit_vectors(n, 128, max(words, n // 50), seed=1)
    probe = x[:: max(1, n // 20_000)]
    row = {"task": "kmeans", "n": n, "dim": 128, "words": words, "iterations": iterations}
    t = time.perf_counter()
    c, _ = nearest.kmeans(x, words, iterations, seed=0)
    row["numpy_s"] = time.perf_counter() - t
    row["numpy_mse"] = float(nearest.knn_l2(probe, c, 1)[0].mean())
    t = time.perf_counter()
    c = faiss_device.kmeans(x, words, iterations, seed=0, use_gpu=False)
    row["faiss_s"] = time.perf_counter() - t
    row["faiss_mse"] = float(nearest.knn_l2(probe, c, 1)[0].mean())
    return [row]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    faiss_device.require("this benchmark")
    import faiss

    rows = bench_assign(repeat=5 if args.quick else 20)
    rows += bench_search([10_000] if args.quick else [10_000, 100_000], queries=100)
    rows += bench_kmeans(20_000, 512, 10) if args.quick else bench_kmeans(100_000, 4096, 20)
    env = {"task": "environment", "faiss": faiss.__version__, "numpy": np.__version__}
    env["faiss_threads"] = faiss.omp_get_max_threads()
    rows.append(env)
    for row in rows:
        print(
            "  ".join(f"{k}={round(v, 3) if isinstance(v, float) else v}" for k, v in row.items())
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
