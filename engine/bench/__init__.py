"""Measurements that print figures, never assertions (``visual-search bench ...``): one module
per subject measured, the same names as what they measure; names load on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy import attach

if TYPE_CHECKING:
    from engine.bench.batching import bench_batching
    from engine.bench.context import bench_context
    from engine.bench.extract import bench_extract
    from engine.bench.faiss_gpu import bench_faiss_gpu
    from engine.bench.gpu_local import bench_gpu_local
    from engine.bench.index_speed import bench_index_breakdown
    from engine.bench.library import (
        bench_index,
        bench_rescan,
        bench_search,
        bench_unchanged,
        clustered_unit_vectors,
    )
    from engine.bench.local import bench_local
    from engine.bench.localize import bench_localize
    from engine.bench.memory import bench_memory
    from engine.bench.onnx import bench_onnx
    from engine.bench.quality import bench_quality
    from engine.bench.settings import bench_settings
    from engine.bench.train import (
        bench_ablation,
        bench_generated,
        bench_generated_batches,
        bench_train,
    )

_SOURCES = {
    "bench_batching": "engine.bench.batching",
    "bench_context": "engine.bench.context",
    "bench_onnx": "engine.bench.onnx",
    "bench_faiss_gpu": "engine.bench.faiss_gpu",
    "bench_gpu_local": "engine.bench.gpu_local",
    "bench_unchanged": "engine.bench.library",
    "bench_generated": "engine.bench.train",
    "bench_generated_batches": "engine.bench.train",
    "bench_extract": "engine.bench.extract",
    "bench_index": "engine.bench.library",
    "bench_index_breakdown": "engine.bench.index_speed",
    "bench_rescan": "engine.bench.library",
    "bench_search": "engine.bench.library",
    "clustered_unit_vectors": "engine.bench.library",
    "bench_local": "engine.bench.local",
    "bench_localize": "engine.bench.localize",
    "bench_memory": "engine.bench.memory",
    "bench_quality": "engine.bench.quality",
    "bench_settings": "engine.bench.settings",
    "bench_ablation": "engine.bench.train",
    "bench_train": "engine.bench.train",
}

__all__ = [
    "bench_ablation",
    "bench_batching",
    "bench_context",
    "bench_extract",
    "bench_faiss_gpu",
    "bench_generated",
    "bench_generated_batches",
    "bench_gpu_local",
    "bench_index",
    "bench_index_breakdown",
    "bench_local",
    "bench_localize",
    "bench_memory",
    "bench_onnx",
    "bench_quality",
    "bench_rescan",
    "bench_search",
    "bench_settings",
    "bench_train",
    "bench_unchanged",
    "clustered_unit_vectors",
]

__getattr__, __dir__ = attach(__name__, _SOURCES)
