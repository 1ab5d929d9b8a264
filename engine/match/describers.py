"""Which processes describe photos for a library, an evaluation or a benchmark: OpenCV's SIFT on
worker processes (``LocalWorkers``, the default) or kornia's on a GPU (``TorchWorkers``), chosen
by ``VISUAL_SEARCH_FEATURES_ON``. Both give codes of one kind, against one codebook."""

from __future__ import annotations

import os

from engine.match.codebook import Codebook
from engine.match.describe import DEFAULT, DescribeSettings
from engine.match.workers import LocalWorkers

#: where SIFT runs: ``cpu`` (OpenCV on worker processes, the default), ``cuda`` (kornia's SIFT on
#: the GPU, decoding on the worker processes; an error without one) or ``torch-cpu`` (the same
#: kornia code on the CPU: measures the GPU path's quality on a machine without a GPU). The CPU
#: stays the default because it measured faster: on one H200 with 16 decoding processes the GPU
#: path indexed 12.6 photos/s (README, "Local features on a GPU").
FEATURES_ON = ("cpu", "cuda", "torch-cpu")
#: the environment variable that sets it for every command and the window
FEATURES_ON_ENV = "VISUAL_SEARCH_FEATURES_ON"


def features_device(on: str | None = None) -> str:
    """Where SIFT runs for ``on`` (default: ``$VISUAL_SEARCH_FEATURES_ON``, else ``cpu``).
    Raises ``ConfigError`` for an unknown value, or where ``cuda`` / ``torch-cpu`` cannot run."""
    import importlib.util

    from engine.errors import ConfigError

    on = (on or os.environ.get(FEATURES_ON_ENV) or "cpu").strip().lower()
    if on not in FEATURES_ON:
        raise ConfigError(f"features run on one of {', '.join(FEATURES_ON)}, not {on!r}")
    if on == "cpu":
        return on
    if not all(importlib.util.find_spec(m) is not None for m in ("torch", "kornia")):
        raise ConfigError(f"features on {on} need PyTorch and kornia (the gpu extra)")
    if on == "cuda" and not _torch_cuda():
        raise ConfigError("features on cuda: no CUDA GPU found")
    return on


def _torch_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def open_describers(
    codebook: Codebook,
    settings: DescribeSettings = DEFAULT,
    workers: int | None = None,
    on: str | None = None,
):
    """The processes that describe photos: ``LocalWorkers`` (OpenCV SIFT, one process per
    core) or, where features run on a GPU (``features_device``), ``TorchWorkers`` (decoding on
    the processes, SIFT and codes on the GPU in batches). Both give the same codes' kind."""
    where = features_device(on)
    if where == "cpu":
        return LocalWorkers(codebook, workers, settings)
    from engine.match.torch_workers import TorchWorkers  # imports torch: only when asked

    return TorchWorkers(codebook, workers, settings, "cuda" if where == "cuda" else "cpu")
