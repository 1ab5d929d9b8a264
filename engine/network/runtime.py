"""Where and how inference runs: device choice, precision and memory format.

CPU defaults are chosen by capability: bf16 autocast only where the CPU has native bf16
(AVX512-BF16 or AMX), channels_last always. CUDA uses bf16 autocast where supported, else fp16.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass

import torch

from engine.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU executes bf16 natively (AVX512-BF16 or AMX tiles)."""
    if os.environ.get("VISUAL_SEARCH_NO_BF16"):
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    for name in probes:
        fn = getattr(torch.cpu, name, None)
        try:
            if fn is not None and fn():
                return True
        except Exception:  # pragma: no cover - very old torch
            continue
    return False


def cuda_unavailable_reason() -> str | None:
    """Why the ``cuda`` device cannot be used here, in a few words; None when it can."""
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return "this PyTorch build has no CUDA support"
    return "no NVIDIA GPU found"


def device_kind(device: str = "auto") -> str:
    """``cuda`` or ``cpu``: where ``device`` (``auto`` by default) would run."""
    return resolve_device(device).type


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` → CUDA when available, else CPU. Asking for CUDA without one is an error."""
    if isinstance(device, torch.device):
        return device
    if device not in DEVICE_CHOICES and not str(device).startswith("cuda:"):
        raise ConfigError(f"device must be one of {', '.join(DEVICE_CHOICES)}, not {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but no CUDA GPU is available; use --device cpu")
    return torch.device(device)


@dataclass(frozen=True)
class Precision:
    """The dtype autocast runs in (None = plain fp32)."""

    dtype: torch.dtype | None

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self, device: torch.device):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)


def resolve_precision(precision: str, device: torch.device) -> Precision:
    if precision not in PRECISION_CHOICES:
        raise ConfigError(
            f"precision must be one of {', '.join(PRECISION_CHOICES)}, not {precision!r}"
        )
    if precision == "fp32":
        return Precision(None)
    if precision == "bf16":
        return Precision(torch.bfloat16)
    if precision == "fp16":
        if device.type != "cuda":
            raise ConfigError("fp16 is only supported on CUDA; use bf16 or fp32 on the CPU")
        return Precision(torch.float16)
    # auto
    if device.type == "cuda":
        return Precision(torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    return Precision(torch.bfloat16 if cpu_has_native_bf16() else None)


def is_main_process() -> bool:
    """False in every process but the first under torchrun (``RANK`` > 0): only it reports."""
    return int(os.environ.get("RANK", "0")) == 0
