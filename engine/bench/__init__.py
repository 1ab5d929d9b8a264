"""Speed measurements that print figures (never assertions): ``visual-search bench ...``.

One module per subject: ``extract.py`` (model forward and extraction), ``library.py`` (index
search, re-scan, indexing throughput), ``train.py`` (training speed, context ablation) and
``localize.py`` (click localization and overlays), ``local.py`` (local-feature search at
scale). Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import attach

if TYPE_CHECKING:
    from .extract import bench_extract
    from .library import bench_index, bench_rescan, bench_search, clustered_unit_vectors
    from .local import bench_local
    from .localize import bench_localize
    from .quality import bench_quality
    from .train import bench_ablation, bench_train

_SOURCES = {
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
    "bench_extract",
    "bench_index",
    "bench_local",
    "bench_localize",
    "bench_quality",
    "bench_rescan",
    "bench_search",
    "bench_train",
    "clustered_unit_vectors",
]

__getattr__, __dir__ = attach(__name__, _SOURCES)
