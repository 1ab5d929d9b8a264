"""Learning a codebook from photos: sample RootSIFT descriptors, run k-means (FAISS, else NumPy).

Photos are read on worker processes (SIFT is CPU work that holds the GIL); each contributes
at most ``per_photo`` descriptors drawn at random with a fixed seed, so the result depends only
on the photos, the seed and the settings.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from engine.cores import available_cores
from engine.errors import BadImageError, CancelledError
from engine.match.codebook import Codebook, CodebookError, train_codebook
from engine.match.describe import local_features
from engine.match.workers import _exit_with_parent
from engine.tasks import ProgressFn, StopFn


def _init() -> None:
    """Each worker ends when the process that started it dies: a SIGKILL leaves the pool no
    time to stop its workers, which would otherwise wait for work for ever."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _sample(args: tuple[str, int, int]) -> np.ndarray | None:
    path, per_photo, seed = args
    try:
        f = local_features(path)
    except (BadImageError, OSError):
        return None
    d = f.desc
    if len(d) > per_photo:
        rng = np.random.default_rng([seed, len(d)])
        d = d[np.sort(rng.choice(len(d), per_photo, replace=False))]
    return d.astype(np.float16)


def sample_descriptors(
    paths: Sequence[str | os.PathLike],
    per_photo: int = 200,
    seed: int = 0,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> np.ndarray:
    """Up to ``per_photo`` RootSIFT descriptors from each photo, ``(n, 128) float32``."""
    jobs = [(os.fspath(p), per_photo, seed) for p in paths]
    out: list[np.ndarray] = []
    workers = workers or available_cores()
    # spawn (as ``LocalWorkers``): a worker's parent is this process, which it watches
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init) as pool:
        for i, d in enumerate(pool.map(_sample, jobs, chunksize=4)):
            if should_stop is not None and should_stop():
                pool.shutdown(cancel_futures=True)
                raise CancelledError("codebook learning cancelled")
            if d is not None and len(d):
                out.append(d)
            if progress is not None:
                progress(i + 1, len(jobs), "reading local features")
    if not out:
        return np.zeros((0, 128), np.float32)
    return np.concatenate(out).astype(np.float32)


def learn_codebook(
    paths: Sequence[str | os.PathLike],
    words: int,
    per_photo: int = 200,
    seed: int = 0,
    iterations: int = 20,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> Codebook:
    """A codebook of ``words`` visual words learned from ``paths``."""
    desc = sample_descriptors(paths, per_photo, seed, progress=progress, should_stop=should_stop)
    if len(desc) < words:
        raise CodebookError(
            f"{len(paths)} photos gave {len(desc)} local features, too few for {words} words"
        )
    if progress is not None:
        progress(0, 1, f"k-means: {words} words from {len(desc)} features")
    book = train_codebook(
        desc,
        words,
        seed,
        iterations,
        {"photos": len(paths)},
        progress=progress,
        should_stop=should_stop,
    )
    if progress is not None:
        progress(1, 1, "codebook ready")
    return book
