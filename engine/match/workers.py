"""Local features on worker processes: SIFT is CPU work that holds the GIL, so photos are
decoded and described in separate processes (one decode per photo; the network's input is
made from the same decode).

``LocalWorkers(codebook)`` starts a process pool (spawn: safe beside torch's threads, and the
same on every platform) whose workers hold the codebook; ``submit(path, box, image_size)``
returns a future of ``Described`` or of a ``BadImageError`` (returned, not raised, so a bad
photo never breaks a batch).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from engine.cores import available_cores
from engine.errors import BadImageError
from engine.match.asmk import LocalCode, encode
from engine.match.codebook import Codebook
from engine.match.describe import (
    LOCAL_MAX_SIDE,
    MAX_FEATURES,
    LocalFeatures,
    features_from_gray,
    to_gray,
)
from engine.photo.decode import PhotoSource, downscale, load_photo

Box = tuple[float, float, float, float]


@dataclass
class Described:
    """One photo, decoded once.

    code: its local data (None when not asked for); feats: the RootSIFT features (when
    ``keep_features``); phash: 64-bit perceptual hash; original_size (W, H) upright;
    pixels: ``(H, W, 3) uint8`` RGB with long side ≤ ``image_size`` for the network (None
    when not asked for); box: the crop applied, in original pixels.
    """

    code: LocalCode | None
    phash: int
    original_size: tuple[int, int]
    pixels: np.ndarray | None
    box: Box | None
    feats: LocalFeatures | None = None
    notes: list[str] = field(default_factory=list)  # what decoding noticed (damaged EXIF...)


def phash(gray: np.ndarray) -> int:
    """DCT perceptual hash: 64 bits, the signs of the 8×8 lowest frequencies (DC excluded)
    of a 32×32 reduction against their median."""
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].reshape(-1)
    bits = (low > np.median(low[1:])).astype(np.uint8)
    bits[0] = 0
    return int.from_bytes(np.packbits(bits).tobytes(), "big", signed=True)


def hamming64(a: int, b: int) -> int:
    return int((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()


def describe(
    src: PhotoSource,
    codebook: Codebook,
    box: Box | None = None,
    image_size: int | None = None,
    local_side: int = LOCAL_MAX_SIDE,
    max_features: int = MAX_FEATURES,
    local: bool = True,
    keep_features: bool = False,
    encode_code: bool = True,
) -> Described:
    """Decode ``src`` once at the larger of the two sizes; RootSIFT → code (when ``local``);
    pixels for the network by resizing the same decode (when ``image_size``); a query keeps
    its features (``keep_features``) and needs no database code (``encode_code=False``). Raises
    ``BadImageError``."""
    side = max(local_side if local else 0, image_size or 0) or local_side
    photo = load_photo(src, side, box)
    rgb = photo.image
    offset = (photo.box[0], photo.box[1]) if photo.box is not None else (0.0, 0.0)
    small = downscale(rgb, local_side)
    gray = to_gray(small)
    feats = LocalFeatures.empty()
    if local:
        to_orig = 1.0 / (photo.scale * small.width / rgb.width)
        feats = features_from_gray(gray, to_orig, offset, max_features)
    pixels = np.asarray(downscale(rgb, image_size), np.uint8) if image_size else None
    code = encode(feats, codebook) if local and encode_code else None
    return Described(
        code,
        phash(gray),
        photo.original_size,
        pixels,
        photo.box,
        feats if keep_features else None,
        photo.notes,
    )


_book: Codebook | None = None


def _init(centroids: np.ndarray, threads: int) -> None:
    global _book
    cv2.setNumThreads(threads)
    _book = Codebook(centroids)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """A worker whose parent was killed (SIGKILL leaves no time to stop the pool) ends too,
    instead of waiting forever as an orphan."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(0)


def _run(src, box, image_size, local_side, max_features, local):
    try:
        return describe(src, _book, box, image_size, local_side, max_features, local)
    except BadImageError as e:
        return e
    except OSError as e:  # a file that vanished or became unreadable after the scan
        return BadImageError(f"cannot read: {e.strerror or e}")


class LocalWorkers:
    """A pool of processes that describe photos with one codebook."""

    def __init__(
        self,
        codebook: Codebook,
        workers: int | None = None,
        local_side: int = LOCAL_MAX_SIDE,
        max_features: int = MAX_FEATURES,
    ) -> None:
        self.codebook = codebook
        self.workers = max(1, workers or available_cores())
        self.local_side = local_side
        self.max_features = max_features
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=mp.get_context("spawn"),
            initializer=_init,
            initargs=(codebook.centroids, 1),
        )

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
            self.local_side,
            self.max_features,
            local,
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LocalWorkers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
