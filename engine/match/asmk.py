"""ASMK* codes: per visual word, the aggregated residuals of a photo's descriptors, binarised.

For a photo X and a word c, V(X_c) = Σ_{x ∈ X_c} (x − q(x)) is L2-normalised and binarised,
b = sign(V) (128 bits, 16 bytes). Two photos compare word by word over the words they share:
K(X, Y) = γ(X) γ(Y) Σ_c w_c σ_α(u_c), with u_c = 1 − 2 h(b_X,c, b_Y,c) / B the normalised
Hamming similarity, σ_α(u) = u^α for u > τ and 0 otherwise (α = 3, τ = 0), w_c an idf weight
and γ the self-similarity normaliser (Tolias, Avrithis, Jégou, "To aggregate or not to
aggregate"). The query side may assign each descriptor to several words (multiple assignment).

A ``LocalCode`` is everything a library keeps per photo to rebuild the index and to verify
matches geometrically: the ASMK* words and bits, plus each feature's word and keypoint.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from engine.match.codebook import Codebook
from engine.match.describe import Laps, LocalFeatures
from engine.match.nearest import Cells

BITS = 128
ALPHA = 3.0
TAU = 0.0
#: words a query descriptor is assigned to (multiple assignment); database side uses 1
QUERY_ASSIGN = 3
#: above this many photos the inverted file is scored with single assignment (a third of the
#: postings to scan); verification keeps the multiple assignment
MULTI_ASSIGN_MAX_PHOTOS = 20_000
#: codebooks of at least this many words assign database descriptors through ``Cells``
#: (approximate, about 6x faster at 16,384 words); smaller ones exactly
CELLS_FROM_WORDS = 4096

_cells: dict[str, Cells] = {}
_cells_lock = threading.Lock()


def database_words(desc: np.ndarray, codebook: Codebook) -> np.ndarray:
    """The nearest word of each database descriptor, ``(n, 1) int64``: exact for a small
    codebook, through the codebook's ``Cells`` (built once per process) for a large one."""
    if codebook.size < CELLS_FROM_WORDS:
        return codebook.assign(desc, 1)[1]
    with _cells_lock:
        cells = _cells.get(codebook.fingerprint)
        if cells is None:
            cells = Cells(codebook.centroids)
            _cells.clear()  # one codebook at a time is all a process describes with
            _cells[codebook.fingerprint] = cells
    return cells.nearest(desc)[1][:, None]


@dataclass
class LocalCode:
    """A photo's local data.

    words (m,) uint16 sorted, bits (m, 16) uint8: ASMK* aggregated binary residuals.
    fwords (n,) uint16: each feature's nearest word; kp (n, 4) float16 (x, y, size, angle).
    """

    words: np.ndarray
    bits: np.ndarray
    fwords: np.ndarray
    kp: np.ndarray

    def __len__(self) -> int:
        return len(self.fwords)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.words, self.bits, self.fwords, self.kp))

    @classmethod
    def empty(cls) -> LocalCode:
        return cls(
            np.zeros(0, np.uint16),
            np.zeros((0, BITS // 8), np.uint8),
            np.zeros(0, np.uint16),
            np.zeros((0, 4), np.float16),
        )

    def to_bytes(self) -> tuple[bytes, bytes, bytes, bytes]:
        return (
            self.words.astype("<u2").tobytes(),
            np.ascontiguousarray(self.bits, np.uint8).tobytes(),
            self.fwords.astype("<u2").tobytes(),
            self.kp.astype("<f2").tobytes(),
        )

    @classmethod
    def from_bytes(cls, words: bytes, bits: bytes, fwords: bytes, kp: bytes) -> LocalCode:
        w = np.frombuffer(words, "<u2").astype(np.uint16)
        b = np.frombuffer(bits, np.uint8).reshape(-1, BITS // 8)
        fw = np.frombuffer(fwords, "<u2").astype(np.uint16)
        k = np.frombuffer(kp, "<f2").astype(np.float16).reshape(-1, 4)
        if len(b) != len(w) or len(k) != len(fw):
            raise ValueError("local code arrays disagree in length")
        return cls(w, b, fw, k)


def aggregate(
    desc: np.ndarray, codebook: Codebook, assign: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Aggregate residuals of ``desc (n, 128)`` over words ``assign (n, m)``.

    Returns ``words (u,) int64`` sorted and ``bits (u, 16) uint8`` = packbits(V > 0).
    """
    n, m = assign.shape
    if n == 0:
        return np.zeros(0, np.int64), np.zeros((0, BITS // 8), np.uint8)
    flat = assign.reshape(-1)
    res = np.repeat(desc, m, axis=0) - codebook.centroids[flat]  # (n*m, 128)
    words, inv = np.unique(flat, return_inverse=True)
    agg = np.zeros((len(words), desc.shape[1]), np.float32)
    np.add.at(agg, inv, res)
    return words, np.packbits(agg > 0, axis=1)


def encode(feats: LocalFeatures, codebook: Codebook, laps: Laps | None = None) -> LocalCode:
    """A database photo's code (each descriptor to its nearest word); ``laps`` sums the
    seconds of each stage."""
    if len(feats) == 0:
        return LocalCode.empty()
    if laps is not None:
        laps.start()
    I = database_words(feats.desc, codebook)
    if laps is not None:
        laps.lap("word assignment")
    words, bits = aggregate(feats.desc, codebook, I)
    if laps is not None:
        laps.lap("ASMK aggregation")
    return LocalCode(
        words.astype(np.uint16), bits, I[:, 0].astype(np.uint16), feats.kp.astype(np.float16)
    )


@dataclass
class QueryCode:
    """A query's features with multiple assignment.

    words (u,) int64 sorted and bits (u, 16) uint8 for the inverted file; assign (n, m) the
    words of each feature (for tentative correspondences); feats the RootSIFT features.
    """

    words: np.ndarray
    bits: np.ndarray
    assign: np.ndarray
    feats: LocalFeatures
    words1: np.ndarray | None = None
    bits1: np.ndarray | None = None

    def terms(self, photos: int) -> tuple[np.ndarray, np.ndarray]:
        """The words and bits to score an inverted file of ``photos`` photos with."""
        if photos > MULTI_ASSIGN_MAX_PHOTOS and self.words1 is not None:
            return self.words1, self.bits1
        return self.words, self.bits


def encode_query(feats: LocalFeatures, codebook: Codebook, m: int = QUERY_ASSIGN) -> QueryCode:
    m = max(1, min(int(m), codebook.size))
    if len(feats) == 0:
        return QueryCode(
            np.zeros(0, np.int64), np.zeros((0, 16), np.uint8), np.zeros((0, m), np.int64), feats
        )
    D, I = codebook.assign(feats.desc, m)
    # keep only extra assignments not much further than the nearest word (soft threshold
    # 1.2× the nearest squared distance, as multiple assignment usually does)
    far = 1.2 * D[:, :1] < D
    I = np.where(far, I[:, :1], I)
    words, bits = aggregate(feats.desc, codebook, I)
    words1, bits1 = aggregate(feats.desc, codebook, I[:, :1]) if m > 1 else (words, bits)
    return QueryCode(words, bits, I, feats, words1, bits1)


def hamming_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a, b (n, 2) uint64`` packed 128-bit codes → u = 1 − 2h/B, ``(n,) float32``."""
    h = np.bitwise_count(a ^ b).sum(axis=1, dtype=np.int32)
    return 1.0 - (2.0 / BITS) * h.astype(np.float32)


def selectivity(u: np.ndarray, alpha: float = ALPHA, tau: float = TAU) -> np.ndarray:
    """σ_α(u) = sign(u)|u|^α for u > τ, else 0."""
    return np.where(u > tau, np.sign(u) * np.abs(u) ** alpha, 0.0).astype(np.float32)


def as_u64(bits: np.ndarray) -> np.ndarray:
    """``(n, 16) uint8`` → ``(n, 2) uint64`` view for fast popcounts."""
    return np.ascontiguousarray(bits, np.uint8).view(np.uint64).reshape(-1, BITS // 64)
