"""Speed measurements that print figures (never assertions): ``visual-search bench ...``.

One module per subject: ``extract.py`` (model forward and extraction), ``library.py`` (index
search, re-scan, indexing throughput), ``train.py`` (training speed, context ablation) and
``localize.py`` (click localization and overlays), ``local.py`` (local-feature search at
scale), ``batching.py`` (what bucketing and device decoding do to descriptors),
``faiss_gpu.py`` (k-means and exact search on CPU and GPU). Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import attach

if TYPE_CHECKING:
    from .batching import bench_batching
    from .extract import bench_extract
    from .faiss_gpu import bench_faiss_gpu
    from .library import (
        bench_index,
        bench_rescan,
        bench_search,
        bench_unchanged,
        clustered_unit_vectors,
    )
    from .local import bench_local
    from .localize import bench_localize
    from .quality import bench_quality
    from .train import bench_ablation, bench_generated, bench_generated_batches, bench_train

_SOURCES = {
    "bench_batching": ".batching",
    "bench_faiss_gpu": ".faiss_gpu",
    "bench_unchanged": ".library",
    "bench_generated": ".train",
    "bench_generated_batches": ".train",
    "bench_extract": ".extract",
    "bench_index": ".library",
    "bench_rescan": ".library",
    "bench_search": ".library",
    "clustered_unit_vectors": ".library",
    "bench_local": ".local",
    "bench_localize": ".localize",
    "bench_quality": ".quality",
    "bench_ablation": ".train",
    "bench_train": ".train",
}

__all__ = [
    "bench_ablation",
    "bench_batching",
    "bench_extract",
    "bench_faiss_gpu",
    "bench_generated",
    "bench_generated_batches",
    "bench_index",
    "bench_local",
    "bench_localize",
    "bench_quality",
    "bench_rescan",
    "bench_search",
    "bench_train",
    "bench_unchanged",
    "clustered_unit_vectors",
]

__getattr__, __dir__ = attach(__name__, _SOURCES)
