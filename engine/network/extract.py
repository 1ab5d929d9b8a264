"""Descriptor extraction: photos → L2-normalised global descriptors, attention and patch features.

The work is split in two so callers can overlap decoding with inference:

* ``Extractor.prepare(src, box)`` decodes one photo to an ``(3, H, W)`` uint8 tensor
  (thread-safe; PIL releases the GIL while decoding);
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
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from engine.cores import available_cores
from engine.errors import BadImageError, ConfigError
from engine.network.models.base import RetrievalModel
from engine.network.models.layers import l2n
from engine.network.runtime import Precision, resolve_device, resolve_precision
from engine.photo.decode import Box, PhotoSource, describe_source, load_photo
from engine.tasks import ProgressFn, StopFn

#: scaled inputs are never made smaller than this on their short side
MIN_SCALED_SIDE = 16
#: with bucketing, inputs whose sides round up to the same multiple of this share a batch
BUCKET_STEP = 32


def bucket_shape(height: int, width: int, step: int = BUCKET_STEP) -> tuple[int, int]:
    """The ``(H, W)`` a ``height × width`` input is padded to (bottom and right, with zeros
    after normalisation) when photos are bucketed: each side rounded up to a multiple of
    ``step``, the backbone's stride. The feature map keeps its size (⌈side / 32⌉ cells), so
    the attention map still covers the photo; measured on 1,020 real photos, descriptors
    stay within cosine 0.99 of the unpadded ones (stretching to the bucket instead: 0.89)."""
    return -(-int(height) // step) * step, -(-int(width) // step) * step


@dataclass
class Prepared:
    """A decoded photo ready for the network."""

    pixels: torch.Tensor  # (3, H, W) uint8, upright RGB, long side ≤ image_size
    original_size: tuple[int, int]  # (width, height) of the full upright photo
    box: Box | None  # crop in original coordinates, if any
    source: str
    notes: list[str] = field(default_factory=list)  # what decoding noticed (damaged EXIF...)


@dataclass
class Extraction:
    """What the network says about one photo.

    descriptor: ``(D,)`` float32, unit norm (multi-scale sum, re-normalised).
    attention:  ``(h, w)`` float32 in [0, 1] at feature resolution (scale 1).
    features:   ``(C, h, w)`` float32 patch features at scale 1, or None when not requested.
    input_size: ``(width, height)`` of the network input at scale 1.
    """

    descriptor: np.ndarray
    attention: np.ndarray
    features: np.ndarray | None
    input_size: tuple[int, int]
    original_size: tuple[int, int]
    box: Box | None
    source: str
    notes: list[str] = field(default_factory=list)


class Extractor:
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
        self.mean = torch.tensor(cfg.mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.std, device=self.device).view(1, 3, 1, 1)

    @property
    def dim(self) -> int:
        return int(self.model.num_features)

    # ------------------------------------------------------------------ decoding

    def prepare(self, src: PhotoSource, box: Box | None = None) -> Prepared:
        """Decode ``src`` (cropped to ``box``) to a uint8 tensor. Raises ``BadImageError``."""
        photo = load_photo(src, self.image_size, box)
        arr = np.asarray(photo.image, dtype=np.uint8)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise BadImageError("decoded image is not RGB")
        pixels = torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
        return Prepared(pixels, photo.original_size, photo.box, describe_source(src), photo.notes)

    # ------------------------------------------------------------------ inference

    def _normalise(self, pixels: list[torch.Tensor], shape: tuple[int, int]) -> torch.Tensor:
        """``(3, h, w)`` uint8 photos → one ``(B, 3, H, W)`` normalised float32 batch on the
        device, each padded to ``shape`` (bottom and right, zeros after normalisation) if it is
        smaller."""
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
        k = max(s, MIN_SCALED_SIDE / max(min(h, w), 1))
        size = (max(1, round(h * k)), max(1, round(w * k)))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=k < 1)

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
            h, w = p.pixels.shape[-2:]
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
                        input_size=(int(p.pixels.shape[2]), int(p.pixels.shape[1])),
                        original_size=p.original_size,
                        box=p.box,
                        source=p.source,
                        notes=p.notes,
                    )
        return [r for r in results if r is not None]

    def extract_one(
        self, src: PhotoSource, box: Box | None = None, with_features: bool = False
    ) -> Extraction:
        """Decode and extract a single photo. Raises ``BadImageError`` for a bad photo."""
        return self.run([self.prepare(src, box)], with_features)[0]

    def extract(
        self,
        sources: Iterable[PhotoSource],
        boxes: Sequence[Box | None] | None = None,
        with_features: bool = False,
        workers: int | None = None,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> Iterator[tuple[int, Extraction | BadImageError]]:
        """Yield ``(index, Extraction or BadImageError)`` for each source, in order.

        Photos are decoded on ``workers`` threads (default: one per available core; Pillow
        releases the GIL while it decodes) ahead of inference; a bad photo yields its error
        and the run goes on. ``should_stop()`` is checked between batches.
        """
        sources = list(sources)
        total = len(sources)
        boxes = list(boxes) if boxes is not None else [None] * total
        if len(boxes) != total:
            raise ConfigError("boxes must have one entry per source")
        done = 0
        t0 = time.perf_counter()
        workers = workers or available_cores()
        if (
            self.device_decode
            and all(b is None for b in boxes)
            and all(isinstance(s, (str, os.PathLike)) for s in sources)
        ):
            yield from self._extract_device_decoded(
                sources, with_features, workers, progress, should_stop
            )
            return

        def prep(i: int) -> Prepared | BadImageError:
            return self._prepare_or_error(sources[i], boxes[i])

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            ahead = max(2 * workers, self.batch_size * 2)
            futures = {i: pool.submit(prep, i) for i in range(min(ahead, total))}
            nxt = len(futures)
            i = 0
            while i < total:
                if should_stop is not None and should_stop():
                    for f in futures.values():
                        f.cancel()
                    return
                chunk: list[tuple[int, Prepared]] = []
                while i < total and len(chunk) < self.batch_size:
                    item = futures.pop(i).result()
                    if nxt < total:
                        futures[nxt] = pool.submit(prep, nxt)
                        nxt += 1
                    if isinstance(item, BadImageError):
                        done += 1
                        yield i, item
                    else:
                        chunk.append((i, item))
                    i += 1
                if chunk:
                    outs = self.run([p for _, p in chunk], with_features)
                    for (j, _), out in zip(chunk, outs, strict=True):
                        done += 1
                        yield j, out
                _report(progress, done, total, t0)

    def _prepare_or_error(
        self, src: PhotoSource, box: Box | None = None
    ) -> Prepared | BadImageError:
        """``prepare(src, box)``, or the ``BadImageError`` that says why it cannot be."""
        try:
            return self.prepare(src, box)
        except BadImageError as e:
            return e

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
                _report(progress, min(start + n, total), total, t0)


def _report(progress: ProgressFn | None, done: int, total: int, t0: float) -> None:
    """Tell ``progress`` how many photos are done and at what rate since ``t0``."""
    if progress is not None:
        rate = done / max(time.perf_counter() - t0, 1e-9)
        progress(done, total, f"{rate:.1f} images/s")
