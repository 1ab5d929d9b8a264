"""``bench_faiss_gpu``: FAISS k-means and exact search on the CPU and, where there is one, the GPU.

Two tasks, each timed on every device asked for: k-means of ``kmeans_n`` clustered unit
vectors of dim 128 (RootSIFT's) into ``words`` centroids, through ``faiss_device.kmeans`` as the
codebook learning runs it; and exact top-``k`` search of a batch of ``queries`` against
``search_n`` unit vectors of dim 512 through ``VectorIndex`` (the CPU ``IndexIDMap2``, or the
GPU copy of the flat that a large library searches through). The GPU rows say how far their
answers agree with the CPU's (float ties may swap ids at the k-th place). The last row
describes the process (``faiss_device.describe``): with ``with_torch``, torch is imported and
does one CUDA op first, so it also shows both libraries' CUDA runtimes working side by side.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

#: (kmeans_n, words, search_n) of each mode
SMALL = (20_000, 256, 50_000)
FULL = (500_000, 8192, 1_000_000)


def bench_faiss_gpu(
    small: bool = False,
    kmeans_n: int | None = None,
    words: int | None = None,
    search_n: int | None = None,
    queries: int = 1000,
    k: int = 100,
    iterations: int = 20,
    devices: tuple[str, ...] = ("cpu", "gpu"),
    with_torch: bool = False,
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Rows ``{"task": "kmeans" | "search" | "environment", "device": ..., ...}``; sizes from
    ``SMALL`` or ``FULL`` unless given (0 skips a task). ``gpu`` is skipped (logged) where
    FAISS sees none."""
    from engine import faiss_device

    faiss_device.require("bench faiss")
    preset = SMALL if small else FULL
    kmeans_n = preset[0] if kmeans_n is None else kmeans_n
    words = preset[1] if words is None else words
    search_n = preset[2] if search_n is None else search_n
    torch_row = _torch_check() if with_torch else {}
    run = [d for d in devices if d == "cpu" or faiss_device.gpu_count() > 0]
    if log and len(run) < len(devices):
        log("no GPU that FAISS can use here: CPU rows only")
    rows: list[dict] = []
    if kmeans_n and words:
        rows += _bench_kmeans(kmeans_n, words, iterations, run, log)
    if search_n:
        rows += _bench_search(search_n, queries, k, run, log)
    env = {"task": "environment", **faiss_device.describe(), **torch_row}
    env["faiss_threads"] = _faiss_threads()
    rows.append(env)
    if log:
        log("  ".join(f"{k}={v}" for k, v in env.items() if k != "task"))
    return rows


def _faiss_threads() -> int:
    import faiss

    return int(faiss.omp_get_max_threads())


def _torch_check() -> dict:
    """Import torch and, when it sees CUDA, run one op on the GPU before FAISS touches it."""
    try:
        import torch
    except ImportError:
        return {"torch_cuda_op": None}
    if not torch.cuda.is_available():
        return {"torch_cuda_op": False}
    x = torch.randn(1024, 1024, device="cuda")
    ok = bool(torch.isfinite((x @ x).sum()).item())
    torch.cuda.synchronize()
    return {"torch_cuda_op": ok}


def _bench_kmeans(n: int, words: int, iterations: int, devices, log) -> list[dict]:
    import faiss

    from engine.bench.library import clustered_unit_vectors
    from engine.faiss_device import kmeans

    x = clustered_unit_vectors(n, 128, max(words, n // 50), seed=1)
    probe = x[:: max(1, n // 20_000)]
    rows = []
    for device in devices:
        t = time.perf_counter()
        c = kmeans(x, words, iterations, seed=0, use_gpu=device == "gpu")
        seconds = time.perf_counter() - t
        flat = faiss.IndexFlatL2(128)
        flat.add(c)
        D, _ = flat.search(probe, 1)
        row = {
            "task": "kmeans",
            "device": device,
            "n": n,
            "dim": 128,
            "words": words,
            "iterations": iterations,
            "seconds": round(seconds, 2),
            "mse": round(float(D.mean()), 5),
        }
        rows.append(row)
        if log:
            log(
                f"k-means {n:>9,} x 128 -> {words:>5} words, {iterations} it, {device}: "
                f"{row['seconds']:8.2f} s  mse {row['mse']:.5f}"
            )
    return rows


def _bench_search(n: int, queries: int, k: int, devices, log) -> list[dict]:
    from engine.bench.library import clustered_unit_vectors
    from engine.library.index.vector_index import VectorIndex

    dim = 512
    x = clustered_unit_vectors(n + queries, dim, max(10, n // 100), seed=2)
    xb, xq = x[:n], x[n:]
    vi = VectorIndex.empty(dim, "flat")
    vi.add(np.arange(n, dtype=np.int64), xb)
    del x, xb
    rows, truth = [], None
    for device in devices:
        t = time.perf_counter()
        if device == "gpu":
            vi.exact_copy(True)
        copy = time.perf_counter() - t
        vi.search(xq[:16], k)  # warm
        t = time.perf_counter()
        _, I = vi.search(xq, k)
        seconds = time.perf_counter() - t
        if truth is None:
            truth = I
        agree = np.mean([len(set(a) & set(b)) / k for a, b in zip(I, truth, strict=True)])
        row = {
            "task": "search",
            "device": device,
            "n": n,
            "dim": dim,
            "queries": queries,
            "k": k,
            "copy_s": round(copy, 2),
            "seconds": round(seconds, 3),
            "qps": round(queries / seconds, 1),
            "agree_with_first": round(float(agree), 5),
        }
        rows.append(row)
        if log:
            log(
                f"exact search {n:>9,} x {dim}, {queries} queries top-{k}, {device}: "
                f"{row['seconds']:7.3f} s  {row['qps']:10,.1f} q/s  "
                f"(copy {row['copy_s']:.2f} s, agree {row['agree_with_first']:.4f})"
            )
    return rows
