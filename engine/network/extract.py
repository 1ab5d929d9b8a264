"""Extraction through PyTorch: photos → L2-normalised global descriptors, attention and patch
features, on a GPU (or the CPU where no ONNX model runs them; see ``onnx_model``).

The work is split in two so callers can overlap decoding with inference:

* ``Extractor.prepare(src, box)`` decodes one photo (``extraction.prepare``; thread-safe,
  Pillow releases the GIL while decoding);
* ``Extractor.run(prepared)`` runs the network on a list of prepared photos, batching those of
  equal shape (or, with ``bucket``, of one padded bucket: see ``bucket_shape``), under
  ``torch.inference_mode`` with the chosen precision and channels_last.

``Extractor.extract(sources)`` does both, decoding on a thread pool (one thread per available
core) ahead of inference, or, with ``device_decode``, decoding JPEGs on the device in batches
(``device_decode.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from engine.cores import available_cores
from engine.errors import BadImageError, ConfigError
from engine.network.extraction import (
    Extraction,
    ExtractorBase,
    Prepared,
    bucket_shape,
    report,
    scaled_size,
)
from engine.network.models.base import RetrievalModel
from engine.network.models.layers import l2n
from engine.network.runtime import Precision, resolve_device, resolve_precision
from engine.photo.decode import Box, PhotoSource, describe_source
from engine.tasks import ProgressFn, StopFn


class Extractor(ExtractorBase):
    """Runs a retrieval model over photos.

    ``precision``: ``auto`` picks bf16 autocast on CPUs with native bf16 and on CUDA, fp32
    otherwise. ``batch_size`` defaults to 1 on CPU (larger batches were slower on small CPUs at
    ≥ 512 px) and 32 on CUDA. ``bucket``: pad each input to ``bucket_shape`` so photos of
    mixed aspect share batches (default: when ``batch_size`` > 1; a photo of a folder of mixed
    aspects otherwise runs alone). ``device_decode``: ``extract`` decodes JPEGs on the device
    (nvJPEG, see ``device_decode.py``; default: on CUDA when it works there).
    ``compile=True`` wraps the model in ``torch.compile`` (it recompiles for every new input
    shape, so it pays off on long runs over same-sized photos).
    """

    def __init__(
        self,
        model: RetrievalModel,
        device: str | torch.device = "auto",
        precision: str = "auto",
        image_size: int | None = None,
        scales: Sequence[float] | None = None,
        batch_size: int | None = None,
        compile: bool = False,
        channels_last: bool = True,
        bucket: bool | None = None,
        device_decode: bool | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.precision: Precision = resolve_precision(precision, self.device)
        cfg = model.config
        self.config = cfg
        self.image_size = int(image_size or cfg.image_size)
        self.scales = tuple(float(s) for s in (scales or cfg.scales or (1.0,)))
        if not self.scales or any(s <= 0 for s in self.scales):
            raise ConfigError(f"scales must be positive, got {self.scales}")
        self.batch_size = int(batch_size or (32 if self.device.type == "cuda" else 1))
        self.bucket = self.batch_size > 1 if bucket is None else bool(bucket)
        if device_decode is None:
            from engine.photo.device_decode import device_decoding_works

            device_decode = self.device.type == "cuda" and device_decoding_works(self.device)
        self.device_decode = bool(device_decode)
        self.channels_last = channels_last
        model = model.eval().to(self.device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._forward = torch.compile(model) if compile else model
        self.runtime = (
            f"PyTorch {torch.__version__} on {self.device.type.upper()} ({self.precision.name})"
        )
        self.mean = torch.tensor(cfg.mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.std, device=self.device).view(1, 3, 1, 1)

    # ------------------------------------------------------------------ inference

    def _normalise(self, pixels: list, shape: tuple[int, int]) -> torch.Tensor:
        """``(H, W, 3)`` uint8 arrays (or ``(3, h, w)`` uint8 tensors decoded on the device) →
        one ``(B, 3, H, W)`` normalised float32 batch on the device, each padded to ``shape``
        (bottom and right, zeros after normalisation) if it is smaller."""
        pixels = [_chw(p) for p in pixels]
        if all(tuple(p.shape[-2:]) == shape for p in pixels):
            batch = torch.stack(pixels)
            if self.device.type == "cuda" and batch.device.type == "cpu":
                batch = batch.pin_memory()
            x = batch.to(self.device, non_blocking=True).float()
            return (x.div_(255.0) - self.mean) / self.std
        x = torch.zeros((len(pixels), 3, *shape), device=self.device)
        for i, p in enumerate(pixels):
            h, w = p.shape[-2:]
            xi = p.to(self.device, non_blocking=True).float().div_(255.0)
            x[i, :, :h, :w] = (xi - self.mean[0]) / self.std[0]
        return x

    def _scaled(self, x: torch.Tensor, s: float) -> torch.Tensor:
        if s == 1.0:
            return x
        h, w = x.shape[-2:]
        size = scaled_size(h, w, s)
        down = size[0] < h or size[1] < w
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=down)

    @torch.inference_mode()
    def _run_batch(self, pixels: list[torch.Tensor], shape: tuple[int, int], with_features: bool):
        x = self._normalise(pixels, shape)
        desc = None
        attention = features = None
        ref = min(range(len(self.scales)), key=lambda i: abs(self.scales[i] - 1.0))
        for i, s in enumerate(self.scales):
            xs = self._scaled(x, s)
            if self.channels_last:
                xs = xs.contiguous(memory_format=torch.channels_last)
            with self.precision.autocast(self.device):
                out = self._forward(xs)
            d = out.descriptor.float()
            desc = d if desc is None else desc + d
            if i == ref:
                attention = out.attention.float()
                if with_features:
                    features = out.features.float()
        return l2n(desc), attention, features

    def run(self, prepared: Sequence[Prepared], with_features: bool = False) -> list[Extraction]:
        """Extract every prepared photo; photos of equal shape (or of one bucket, see
        ``bucket_shape``) share a batch."""
        results: list[Extraction | None] = [None] * len(prepared)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, p in enumerate(prepared):
            h, w = p.hw
            key = bucket_shape(h, w) if self.bucket else (int(h), int(w))
            groups.setdefault(key, []).append(i)
        for shape, idx in groups.items():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start : start + self.batch_size]
                pixels = [prepared[i].pixels for i in chunk]
                desc, att, feat = self._run_batch(pixels, shape, with_features)
                desc, att = desc.cpu().numpy(), att.cpu().numpy()
                feat = feat.cpu().numpy() if feat is not None else None
                for j, i in enumerate(chunk):
                    p = prepared[i]
                    results[i] = Extraction(
                        descriptor=np.ascontiguousarray(desc[j], dtype=np.float32),
                        attention=np.ascontiguousarray(att[j], dtype=np.float32),
                        features=None if feat is None else np.ascontiguousarray(feat[j]),
                        input_size=(p.hw[1], p.hw[0]),
                        original_size=p.original_size,
                        box=p.box,
                        source=p.source,
                        notes=p.notes,
                    )
        return [r for r in results if r is not None]

    def extract(
        self,
        sources: Iterable[PhotoSource],
        boxes: Sequence[Box | None] | None = None,
        with_features: bool = False,
        workers: int | None = None,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> Iterator[tuple[int, Extraction | BadImageError]]:
        """``ExtractorBase.extract``; whole photos given by path are decoded on the device
        where it decodes JPEGs (``device_decode``)."""
        sources = list(sources)
        if (
            self.device_decode
            and (boxes is None or all(b is None for b in boxes))
            and all(isinstance(s, (str, os.PathLike)) for s in sources)
        ):
            yield from self._extract_device_decoded(
                sources, with_features, workers or available_cores(), progress, should_stop
            )
            return
        yield from super().extract(sources, boxes, with_features, workers, progress, should_stop)

    def _extract_device_decoded(
        self,
        sources: list[str | os.PathLike],
        with_features: bool,
        workers: int,
        progress: ProgressFn | None,
        should_stop: StopFn | None,
    ) -> Iterator[tuple[int, Extraction | BadImageError]]:
        """``extract`` with the JPEGs decoded on the device, a chunk ahead of the network;
        what the device does not decode goes to Pillow on ``workers`` threads."""
        from engine.photo.device_decode import DeviceDecoder

        total = len(sources)
        n = 4 * self.batch_size  # photos per decoding call
        t0 = time.perf_counter()

        def cpu(i: int) -> Prepared | BadImageError:
            return self._prepare_or_error(sources[i])

        with (
            DeviceDecoder(self.device, self.image_size, threads=workers) as dec,
            ThreadPoolExecutor(max_workers=workers) as pool,
        ):
            ahead = pool.submit(dec.decode, sources[0:n])
            for start in range(0, total, n):
                if should_stop is not None and should_stop():
                    ahead.cancel()
                    return
                decoded = ahead.result()
                if start + n < total:
                    ahead = pool.submit(dec.decode, sources[start + n : start + 2 * n])
                fallback = {
                    j: pool.submit(cpu, start + j) for j, d in enumerate(decoded) if d is None
                }
                items: list[Prepared | BadImageError] = []
                for j, d in enumerate(decoded):
                    if d is None:
                        items.append(fallback[j].result())
                    else:
                        src = describe_source(sources[start + j])
                        items.append(Prepared(d.pixels, d.original_size, None, src, d.notes))
                good = [j for j, it in enumerate(items) if isinstance(it, Prepared)]
                ran = self.run([items[j] for j in good], with_features)
                outs = dict(zip(good, ran, strict=True))
                for j, it in enumerate(items):
                    yield start + j, outs.get(j, it)
                report(progress, min(start + n, total), total, t0)


def _chw(pixels) -> torch.Tensor:
    """A ``(3, H, W)`` uint8 tensor of ``pixels`` (an ``(H, W, 3)`` array, or such a tensor)."""
    if isinstance(pixels, np.ndarray):
        return torch.from_numpy(np.require(pixels, requirements="W")).permute(2, 0, 1)
    return pixels
