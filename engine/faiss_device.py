"""Where FAISS runs: on GPU 0 when faiss-gpu sees one and it pays, else on the CPU; and
whether it is installed at all (``available``: FAISS is an optional extra, the engine then uses
NumPy, ``engine.match.nearest``). faiss is imported on first use, never by importing this.

The GPU path is always the CPU path plus one transfer (``to_device``): an index is built on the
CPU and copied to the GPU, so the CPU tests run all the same code but the copy. GPU use is
switched off with ``VISUAL_SEARCH_FAISS_GPU=0`` (read on every call) and is never required:
``use_gpu=True`` on a machine without a GPU falls back to the CPU.

faiss GPU indexes and ``StandardGpuResources`` are not thread-safe; callers hold ``GPU_LOCK``
around anything that runs on the GPU (``kmeans`` does).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import TYPE_CHECKING, Literal

import numpy as np

from engine.errors import NeedsFaiss

if TYPE_CHECKING:
    import faiss

#: ``VISUAL_SEARCH_FAISS_GPU=0`` (or ``off``, ``false``, ``no``) keeps FAISS on the CPU
ENV = "VISUAL_SEARCH_FAISS_GPU"
#: the largest k a GPU k-selection supports (faiss ``GPU_MAX_SELECTION_K``)
GPU_MAX_K = 2048

UseGpu = bool | Literal["auto"]

GPU_LOCK = threading.RLock()
_resources = None
_used = False
_UNSET = object()
_module: object = _UNSET


def module():
    """The ``faiss`` module, or None where it is not installed; imported once, on first use."""
    global _module
    if _module is _UNSET:
        try:
            import faiss as found
        except ImportError:
            found = None
        _module = found
    return _module


def available() -> bool:
    """Whether FAISS can be used here (else the engine searches and clusters with NumPy)."""
    return module() is not None


def require(what: str):
    """The ``faiss`` module, or ``NeedsFaiss`` naming ``what`` cannot run without it."""
    if not available():
        raise NeedsFaiss(what)
    return module()


def gpu_disabled_by_env() -> bool:
    return os.environ.get(ENV, "").strip().lower() in ("0", "off", "false", "no")


def gpu_count() -> int:
    """GPUs faiss can use: 0 without faiss, with faiss-cpu, without a driver, or when ``ENV``
    switches it off."""
    if gpu_disabled_by_env() or not available():
        return 0
    try:
        return int(module().get_num_gpus())
    except Exception:  # faiss-cpu has no get_num_gpus; a broken driver raises
        return 0


def want_gpu(use_gpu: UseGpu = "auto") -> bool:
    """Whether ``use_gpu`` ("auto", True or False) means the GPU on this machine now."""
    if use_gpu not in ("auto", True, False):
        raise ValueError(f"use_gpu must be 'auto', True or False, not {use_gpu!r}")
    return bool(use_gpu) and gpu_count() > 0


def resources():
    """The process's one ``StandardGpuResources`` (streams, cuBLAS handle, scratch memory),
    made on first use."""
    global _resources
    with GPU_LOCK:
        if _resources is None:
            _resources = require("the GPU").StandardGpuResources()
        return _resources


def to_device(index: faiss.Index, use_gpu: UseGpu = "auto") -> faiss.Index:
    """``index`` copied to GPU 0 when ``use_gpu`` picks the GPU, else ``index`` itself."""
    global _used
    if not want_gpu(use_gpu):
        return index
    with GPU_LOCK:
        out = module().index_cpu_to_gpu(resources(), 0, index)
        _used = True
    return out


def on_gpu(index: faiss.Index) -> bool:
    if not available():
        return False
    try:
        return bool(module().isGpuIndex(index))
    except AttributeError:  # faiss-cpu
        return False


def lock_for(index: faiss.Index):
    """``GPU_LOCK`` for a GPU index, a no-op context for a CPU one (CPU searches are
    thread-safe)."""
    return GPU_LOCK if on_gpu(index) else contextlib.nullcontext()


@contextlib.contextmanager
def one_thread():
    """FAISS on one OpenMP thread in this thread (OpenMP's setting is per thread); nothing
    without FAISS."""
    faiss = module()
    if faiss is None:
        yield
        return
    n = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(n)


def kmeans(
    x: np.ndarray,
    k: int,
    niter: int = 20,
    seed: int = 0,
    use_gpu: UseGpu = "auto",
    **params,
) -> np.ndarray:
    """k-means (L2) of ``x (n, d)`` into ``k`` centroids, ``(k, d) float32``; ``params`` are
    further ``faiss.ClusteringParameters`` fields (``nredo``, ``init_method``, ...).

    ``faiss.Kmeans`` with its assignment index moved by ``to_device`` (GPU 0 and the shared
    resources, rather than ``gpu=True``, which spreads over every GPU with fresh resources).
    """
    faiss = require("FAISS k-means")
    x = np.ascontiguousarray(x, dtype=np.float32)
    km = faiss.Kmeans(x.shape[1], int(k), niter=int(niter), seed=int(seed), verbose=False, **params)
    km.index = to_device(km.index, use_gpu)
    with lock_for(km.index):
        km.train(x)
    return np.ascontiguousarray(km.centroids, dtype=np.float32)


def describe() -> dict:
    """What FAISS can use in this process, JSON-able. When torch is already imported, also
    whether torch sees CUDA: both libraries' CUDA runtimes loaded side by side. Without
    FAISS, ``faiss_version`` is None."""
    faiss = module()
    out: dict = {
        "faiss_version": getattr(faiss, "__version__", "unknown") if faiss else None,
        "faiss_gpu_build": hasattr(faiss, "StandardGpuResources") if faiss else False,
        "gpus": gpu_count(),
        "gpu_disabled_by_env": gpu_disabled_by_env(),
        "gpu_used": _used,
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            out["torch_version"] = str(torch.__version__)
            out["torch_cuda"] = bool(torch.cuda.is_available())
        except Exception as e:  # a half-broken CUDA install: say so, do not fail
            out["torch_cuda"] = False
            out["torch_error"] = f"{type(e).__name__}: {e}"
    return out
