"""Describing photos on worker processes: SIFT is CPU work that holds the GIL, so photos are
decoded and described (``describe.describe``) in separate processes (one decode per photo; the
network's input is made from the same decode).

``LocalWorkers(codebook)`` starts a process pool (spawn: safe beside torch's threads, and the
same on every platform) whose workers hold the codebook; ``submit(path, box, image_size)``
returns a future of ``Described`` or of a ``BadImageError`` (returned, not raised, so a bad
photo never breaks a batch).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, wait

import cv2
import numpy as np

from engine.cores import available_cores
from engine.errors import BadImageError
from engine.match.asmk import database_words, encode
from engine.match.codebook import Codebook
from engine.match.describe import DEFAULT, DescribeSettings, describe
from engine.photo.decode import Box, PhotoSource

_book: Codebook | None = None

#: read by BLAS libraries as they load: each worker is one core's worth of work, and a second
#: BLAS thread would only spin against the other workers
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@contextlib.contextmanager
def environment(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _ready() -> int:
    return os.getpid()


def _init(centroids: np.ndarray, threads: int, parent: int) -> None:
    # first, and with the pid the parent gave: a parent killed while this worker starts is
    # noticed too (asked here, getppid() would already name the process that adopted it)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    global _book
    cv2.setNumThreads(threads)
    _book = Codebook(centroids)
    database_words(np.zeros((1, _book.centroids.shape[1]), np.float32), _book)  # built once


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """A worker whose parent was killed (SIGKILL leaves no time to stop the pool) ends too,
    instead of waiting forever as an orphan."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(0)


def _run(src, box, image_size, settings, local):
    try:
        d = describe(src, box, image_size, settings, local)
    except BadImageError as e:
        return e
    except OSError as e:  # a file that vanished or became unreadable after the scan
        return BadImageError(f"cannot read: {e.strerror or e}")
    if local:
        d.code = encode(d.feats, _book)
    d.feats = None  # the code holds what a library keeps; the descriptors stay here
    return d


def _init_decoder(parent: int) -> None:
    """A decoding worker of ``TorchWorkers`` (kept here, away from torch: a worker imports
    this module only)."""
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    cv2.setNumThreads(1)


def _decode_only(src, box, image_size, settings, local):
    """Decode, pixels and perceptual hash, and the image SIFT will run on (``sift_later``)."""
    try:
        return describe(src, box, image_size, settings, local, sift_later=True)
    except BadImageError as e:
        return e
    except OSError as e:
        return BadImageError(f"cannot read: {e.strerror or e}")


def start_pool(workers: int, initializer, initargs: tuple) -> ProcessPoolExecutor:
    """``workers`` spawned processes (safe beside torch's threads, the same on every platform),
    one BLAS thread each, every one started and initialised before this returns."""
    with environment(ONE_THREAD):  # the workers start now, while it is set
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("spawn"),
            initializer=initializer,
            initargs=initargs,
        )
        wait([pool.submit(_ready) for _ in range(workers)])
    return pool


class LocalWorkers:
    """A pool of processes that describe photos with one codebook."""

    def __init__(
        self,
        codebook: Codebook,
        workers: int | None = None,
        settings: DescribeSettings = DEFAULT,
    ) -> None:
        self.codebook = codebook
        self.workers = max(1, workers or available_cores())
        self.settings = settings
        self._pool = start_pool(self.workers, _init, (codebook.centroids, 1, os.getpid()))

    def submit(
        self,
        src: PhotoSource,
        box: Box | None = None,
        image_size: int | None = None,
        local: bool = True,
    ) -> Future:
        if not isinstance(src, (str, os.PathLike, bytes)):
            raise TypeError("worker processes take a path or bytes")
        return self._pool.submit(
            _run,
            os.fsdecode(src) if isinstance(src, os.PathLike) else src,
            box,
            image_size,
            self.settings,
            local,
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LocalWorkers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
