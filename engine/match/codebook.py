"""The visual-word codebook: k-means centroids of RootSIFT descriptors, a versioned artifact.

Saved as safetensors (a ``centroids (k, 128) float32`` tensor plus string metadata); loading
never unpickles. The fingerprint is a hash of the format version and the centroids' bytes;
every code stored in a library names the fingerprint of the codebook that made it, so codes
of different codebooks never mix.

Words are assigned by NumPy (``engine.match.nearest``: exact, one matrix product per block),
which measured 4x faster than FAISS's flat index for a query's 1,000 features against 16,384
words on two cores (``scripts/bench_numpy_faiss.py``); above ``HNSW_ABOVE`` words, where FAISS
is installed, by its HNSW graph. Codebooks are learned with FAISS's k-means where it is
installed (the GPU included), else with NumPy's.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from engine import faiss_device
from engine.atomic import write_atomically
from engine.errors import InputFileError, VisualSearchError
from engine.faiss_device import UseGpu, want_gpu
from engine.inputs import check_regular
from engine.match import nearest
from engine.tasks import ProgressFn, StopFn

FORMAT = "visual-search-codebook"
VERSION = 1
DIM = 128
#: codes are stored as uint16, so a codebook has at most this many words
MAX_WORDS = 65536
#: above this many words, word assignment uses an HNSW graph instead of exhaustive search
HNSW_ABOVE = 32768
#: the largest codebook file: MAX_WORDS float32 centroids and a small header
MAX_FILE_BYTES = MAX_WORDS * DIM * 4 + (1 << 20)


class CodebookError(VisualSearchError):
    """A codebook file that cannot be used (one-line reason)."""


class Codebook:
    """``centroids (k, 128) float32``; ``assign(x (n, 128), m) -> (D, I) (n, m)``."""

    def __init__(self, centroids: np.ndarray, meta: dict | None = None) -> None:
        kind = np.asarray(centroids).dtype
        if not np.issubdtype(kind, np.floating):
            raise CodebookError(f"codebook centroids must be real numbers, got {kind} values")
        c = np.ascontiguousarray(centroids, dtype=np.float32)  # float16/64: converted here
        if c.ndim != 2 or c.shape[1] != DIM or not 2 <= c.shape[0] <= MAX_WORDS:
            raise CodebookError(
                f"codebook must be (k, {DIM}) with 2 ≤ k ≤ {MAX_WORDS}, got {c.shape}"
            )
        if not np.isfinite(c).all():
            raise CodebookError("codebook has non-finite centroids")
        self.centroids = c
        self.meta = dict(meta or {})
        h = hashlib.sha256(f"{FORMAT}:{VERSION}:".encode())
        h.update(c.tobytes())
        self.fingerprint = h.hexdigest()[:16]
        big = c.shape[0] > HNSW_ABOVE and faiss_device.available()
        self._index = _faiss_hnsw(c) if big else None
        self._norms = np.einsum("ij,ij->i", c, c)

    @property
    def size(self) -> int:
        return int(self.centroids.shape[0])

    def __repr__(self) -> str:
        return f"Codebook(words={self.size}, fingerprint={self.fingerprint})"

    def assign(self, x: np.ndarray, m: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The ``m`` nearest words of each row: ``D (n, m)`` squared distances, ``I (n, m)``."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if len(x) == 0:
            return np.zeros((0, m), np.float32), np.zeros((0, m), np.int64)
        if self._index is None:
            return nearest.knn_l2(x, self.centroids, m, self._norms)
        return self._index.search(x, m)

    def save(self, path: str | os.PathLike) -> None:
        from safetensors.numpy import save_file

        meta = {k: str(v) for k, v in self.meta.items()}
        meta.update(format=FORMAT, version=str(VERSION), fingerprint=self.fingerprint)
        write_atomically(
            Path(path), lambda tmp: save_file({"centroids": self.centroids}, tmp, metadata=meta)
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Codebook:
        """Load and check a codebook file. Raises ``CodebookError`` with a one-line reason."""
        from safetensors import safe_open

        path = Path(path)
        try:  # safetensors opens with a plain blocking open: a FIFO would hang it
            check_regular(path, MAX_FILE_BYTES)
        except InputFileError as e:
            raise CodebookError(f"{e} (a codebook file)") from None
        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                if "centroids" not in f.keys():  # noqa: SIM118 - safe_open has no __contains__
                    raise CodebookError(f"{path}: no centroids in the codebook file")
                _check_stored(path, meta, f.get_slice("centroids"))
                centroids = f.get_tensor("centroids")
        except CodebookError:
            raise
        except Exception as e:  # safetensors raises several types for damaged files
            raise CodebookError(f"{path}: not a readable codebook ({type(e).__name__})") from e
        try:
            book = cls(centroids, {k: v for k, v in meta.items() if k not in ("format", "version")})
        except CodebookError as e:
            raise CodebookError(f"{path}: {e}") from None
        if meta.get("fingerprint") not in (None, book.fingerprint):
            raise CodebookError(f"{path}: codebook contents do not match its fingerprint")
        return book


def _check_stored(path: Path, meta: dict, centroids) -> None:
    """The format, version, dtype and shape a codebook file declares, checked before its
    tensor is read (a file written by ``Codebook.save`` holds ``(k, 128) float32``)."""
    if meta.get("format") != FORMAT:
        raise CodebookError(f"{path}: not a visual-search codebook")
    version = str(meta.get("version", "0"))
    if not version.isdigit() or len(version) > 6:
        raise CodebookError(f"{path}: codebook format version {version[:20]!r} is not a number")
    if int(version) > VERSION:
        raise CodebookError(f"{path}: codebook format {version} is newer than this build")
    dtype, shape = centroids.get_dtype(), tuple(centroids.get_shape())
    if dtype != "F32":
        raise CodebookError(f"{path}: centroids stored as {dtype}; a codebook holds F32 (float32)")
    if len(shape) != 2 or shape[1] != DIM or not 2 <= shape[0] <= MAX_WORDS:
        raise CodebookError(
            f"{path}: centroids of shape {shape}; a codebook holds (k, {DIM}), 2 ≤ k ≤ {MAX_WORDS}"
        )


def _faiss_hnsw(c: np.ndarray):
    """FAISS's HNSW graph of the words (for codebooks above ``HNSW_ABOVE`` words)."""
    faiss = faiss_device.module()
    index = faiss.IndexHNSWFlat(DIM, 32)
    index.hnsw.efSearch = 64
    index.add(c)
    return index


def train_codebook(
    descriptors: np.ndarray,
    words: int,
    seed: int = 0,
    iterations: int = 20,
    meta: dict | None = None,
    use_gpu: UseGpu = "auto",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> Codebook:
    """k-means over ``descriptors (n, 128)``; needs at least ``words`` descriptors.

    FAISS where it is installed, on the GPU when ``use_gpu`` picks one ("auto": when faiss-gpu
    sees one and ``VISUAL_SEARCH_FAISS_GPU`` is not 0); else NumPy's Lloyd iterations
    (``nearest.kmeans``), which report each iteration to ``progress`` and ask ``should_stop``.
    Each iteration costs ``n * words * 128`` multiply-adds, the slow part of learning a
    codebook. Devices and libraries give different centroids (another random start, float sums
    in another order), hence another fingerprint: the training record names the library, the
    device and the seconds k-means took.
    """
    x = np.ascontiguousarray(descriptors, dtype=np.float32)
    if len(x) < words:
        raise CodebookError(f"{len(x)} descriptors are too few for {words} visual words")
    gpu = want_gpu(use_gpu)
    t0 = time.perf_counter()
    if faiss_device.available():
        centroids = faiss_device.kmeans(x, int(words), int(iterations), int(seed), use_gpu=gpu)
    else:
        centroids, _ = nearest.kmeans(x, words, iterations, seed, progress, should_stop)
    info = {"words": int(words), "descriptors": len(x), "seed": seed, "iterations": iterations}
    info.update(kmeans="faiss" if faiss_device.available() else "numpy")
    info.update(kmeans_device="gpu" if gpu else "cpu")
    info.update(kmeans_seconds=round(time.perf_counter() - t0, 1))
    info.update(meta or {})
    return Codebook(centroids, {"training": json.dumps(info)})


def default_codebook_path():
    """The generic codebook shipped with the product (learned on real photographs by
    ``scripts/make-codebook.sh``)."""
    from resources import resource_path

    return resource_path("codebooks", "default.safetensors")


_default: Codebook | None = None


def default_codebook() -> Codebook:
    """The shipped generic codebook, loaded once. Raises ``CodebookError`` when this build
    lacks it or it is damaged."""
    global _default
    if _default is None:
        _default = Codebook.load(default_codebook_path())
    return _default
