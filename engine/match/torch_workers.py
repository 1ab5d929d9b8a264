"""Describing photos with SIFT on a GPU: worker processes decode (the CPU's part), one thread
runs SIFT, RootSIFT, word assignment and aggregation on the device in batches
(``torch_sift.TorchSift``).

``TorchWorkers`` has ``LocalWorkers``' interface (``submit`` returns a future of ``Described``
or of a ``BadImageError``; ``workers``; ``close``), so indexing, re-encoding and evaluation take
either. A batch the device fails on (out of memory, a driver error) is described with OpenCV on
the host instead, and the run goes on.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from concurrent.futures import Future

from engine.cores import available_cores
from engine.errors import BadImageError
from engine.match.asmk import LocalCode, encode
from engine.match.codebook import Codebook
from engine.match.describe import (
    DEFAULT,
    Described,
    DescribeSettings,
    features_from_gray,
    in_photo_pixels,
)
from engine.match.torch_sift import MAX_BATCH, TorchSift
from engine.match.workers import _decode_only, _init_decoder, start_pool
from engine.photo.decode import Box, PhotoSource

_STOP = object()
#: seconds the device thread spent describing (wall and its own CPU time: kernel launches,
#: Python), and photos it described, summed over every ``TorchWorkers`` of this process
#: (``bench_gpu_local`` reads them: the device's busy share, the host's part of it)
BUSY = {"seconds": 0.0, "cpu_seconds": 0.0, "photos": 0, "batches": 0}


class TorchWorkers:
    """Decoding on ``workers`` processes, SIFT and codes on ``device`` (CUDA by default)."""

    def __init__(
        self,
        codebook: Codebook,
        workers: int | None = None,
        settings: DescribeSettings = DEFAULT,
        device: str = "cuda",
    ) -> None:
        self.codebook = codebook
        self.settings = settings
        self.device = device
        self.decoders = max(1, workers or available_cores())
        #: photos worth keeping in flight: every decoder busy, and two full batches (one on the
        #: device, the next filling) so that the device rarely gets a short one
        self.workers = self.decoders + 2 * MAX_BATCH
        self.fallbacks = 0  # batches the device failed on, described on the host instead
        self._sift = TorchSift(codebook, settings, device)
        self._ready: queue.Queue = queue.Queue()
        self._pool = start_pool(self.decoders, _init_decoder, (os.getpid(),))
        self._thread = threading.Thread(target=self._device_loop, daemon=True)
        self._thread.start()

    def submit(
        self,
        src: PhotoSource,
        box: Box | None = None,
        image_size: int | None = None,
        local: bool = True,
    ) -> Future:
        if not isinstance(src, (str, os.PathLike, bytes)):
            raise TypeError("worker processes take a path or bytes")
        outer: Future = Future()
        inner = self._pool.submit(
            _decode_only,
            os.fsdecode(src) if isinstance(src, os.PathLike) else src,
            box,
            image_size,
            self.settings,
            local,
        )
        outer.add_done_callback(lambda f: inner.cancel() if f.cancelled() else None)
        inner.add_done_callback(lambda f: self._decoded(outer, f, local))
        return outer

    def _decoded(self, outer: Future, inner: Future, local: bool) -> None:
        if inner.cancelled():
            outer.cancel()
            return
        error = inner.exception()
        if error is not None:
            _finish(outer, exception=error)
            return
        d = inner.result()
        if isinstance(d, BadImageError) or d.sift_input is None:
            if isinstance(d, Described):  # no local features asked for, or too small for any
                d.code, d.feats = (LocalCode.empty() if local else None), None
            _finish(outer, d)
            return
        self._ready.put((outer, d))

    def _device_loop(self) -> None:
        while True:
            item = self._ready.get()
            if item is _STOP:
                return
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._ready.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            try:
                self._describe(batch)
            except BaseException as e:  # never leave a caller waiting on a future
                for outer, _ in batch:
                    _finish(outer, exception=e)
            if stop:
                return

    def _describe(self, batch: list[tuple[Future, Described]]) -> None:
        t, cpu = time.perf_counter(), time.thread_time()
        described = [d for _, d in batch]
        try:
            found = self._sift.features([d.sift_input[0] for d in described])
            feats = [
                in_photo_pixels(f, d.sift_input[1], d.sift_input[2])
                for f, d in zip(found, described, strict=True)
            ]
            codes = self._sift.encode(feats)
        except Exception as e:  # the device failed: the host describes this batch
            self.fallbacks += 1
            if self.fallbacks == 1:
                print(f"visual-search: the GPU failed ({type(e).__name__}: {e}); "
                      "describing on the CPU instead", file=sys.stderr)  # fmt: skip
            codes = []
            for d in described:
                image, to_original, offset = d.sift_input
                f = features_from_gray(image, to_original, offset, self.settings)
                codes.append(encode(f, self.codebook))
        BUSY["seconds"] += time.perf_counter() - t
        BUSY["cpu_seconds"] += time.thread_time() - cpu
        BUSY["photos"] += len(batch)
        BUSY["batches"] += 1
        for (outer, d), code in zip(batch, codes, strict=True):
            d.code, d.feats, d.sift_input = code, None, None
            _finish(outer, d)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._ready.put(_STOP)
        self._thread.join()

    def __enter__(self) -> TorchWorkers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _finish(outer: Future, result=None, exception: BaseException | None = None) -> None:
    if outer.done() or not outer.set_running_or_notify_cancel():
        return  # cancelled by the caller, or already answered
    if exception is not None:
        outer.set_exception(exception)
    else:
        outer.set_result(result)
