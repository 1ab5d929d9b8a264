"""The inverted file over ASMK* codes: for each visual word, the photos that have it and
their 128-bit aggregated residual.

Postings are kept as flat arrays sorted by word (``offsets (k+1,)`` into ``img (P,) int32`` and
``bits (P, 2) uint64``), so a query gathers the lists of its words with a few numpy operations,
scores them with popcounts and sums per photo with ``bincount``. Photo ``i`` of the file has
id ``ids[i]`` (a library file id) and normaliser ``gamma[i]`` = 1/sqrt(self-similarity).
Word weights are a smoothed idf, w_c = log(1 + N / n_c) (never 0, so a tiny library where
every photo has every word still ranks), recomputed whenever the file is built.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine.match.asmk import ALPHA, BITS, TAU, as_u64, selectivity
from engine.match.postings import PostingRows

#: postings scored at a time (a block of the query's words): bounds a query's memory
SCORE_BLOCK = 1 << 18


def _blocks(lens: np.ndarray, size: int) -> list[tuple[int, int]]:
    """``(a, b)`` word ranges of about ``size`` postings each (a longer list alone)."""
    out, a, acc = [], 0, 0
    for i, n in enumerate(lens.tolist()):
        acc += n
        if acc >= size:
            out.append((a, i + 1))
            a, acc = i + 1, 0
    if a < len(lens):
        out.append((a, len(lens)))
    return out


class InvertedFile:
    """``search(words, bits, k) -> (D, I)``: ASMK* similarities and file ids, best first."""

    def __init__(
        self,
        words: int,
        ids: np.ndarray,
        offsets: np.ndarray,
        img: np.ndarray,
        bits: np.ndarray,
        alpha: float = ALPHA,
        tau: float = TAU,
        gamma: np.ndarray | None = None,
    ) -> None:
        self.words = int(words)
        self.ids = np.ascontiguousarray(ids, np.int64)
        self.offsets = np.ascontiguousarray(offsets, np.int64)
        self.img = np.ascontiguousarray(img, np.int32)
        self.bits = np.ascontiguousarray(bits, np.uint64).reshape(-1, 2)
        # what ``scores`` reads: from the file when the arrays are mapped from one (see
        # ``postings``), else these arrays
        self._img_rows = PostingRows(img, self.img)
        self._bits_rows = PostingRows(bits, self.bits)
        self.alpha, self.tau = float(alpha), float(tau)
        n = len(self.ids)
        df = np.diff(self.offsets).astype(np.float64)
        self.idf = np.where(df > 0, np.log1p(max(n, 1) / np.maximum(df, 1)), 0.0).astype(np.float32)
        if gamma is not None and len(gamma) == n:  # saved with the file: postings not read
            self.gamma = np.asarray(gamma, np.float32)
        else:
            self.gamma = self._normalisers(df, n)
        self._pos = {int(i): p for p, i in enumerate(self.ids.tolist())}
        u = 1.0 - 2.0 * np.arange(BITS + 1, dtype=np.float32) / BITS
        self._lut = selectivity(u, self.alpha, self.tau)

    def _normalisers(self, df: np.ndarray, n: int) -> np.ndarray:
        """γ of each photo: 1/sqrt of its self-similarity Σ_c w_c σ(1) = Σ_c w_c over its
        words, summed a block of words at a time (no temporary the size of the postings)."""
        self_sim = np.zeros(n, np.float64)
        step = 1024
        for w0 in range(0, self.words, step):
            w1 = min(w0 + step, self.words)
            a, b = self.offsets[w0], self.offsets[w1]
            weights = np.repeat(self.idf[w0:w1], df[w0:w1].astype(np.int64))
            self_sim += np.bincount(self.img[a:b], weights=weights, minlength=n)
        gamma = (1.0 / np.sqrt(np.maximum(self_sim, 1e-12))).astype(np.float32)
        gamma[self_sim <= 0] = 0.0
        return gamma

    # ---------------------------------------------------------------- building

    @classmethod
    def build(cls, words: int, items: Iterable[tuple[int, np.ndarray, np.ndarray]]) -> InvertedFile:
        """From ``(file_id, words (m,), bits (m, 16) uint8)`` per photo."""
        ids, wl, bl, il = [], [], [], []
        for n, (fid, w, b) in enumerate(items):
            ids.append(int(fid))
            wl.append(np.asarray(w, np.int64))
            bl.append(as_u64(b))
            il.append(np.full(len(w), n, np.int32))
        return cls._from_lists(words, ids, wl, bl, il)

    @classmethod
    def _from_lists(cls, words, ids, wl, bl, il) -> InvertedFile:
        if wl:
            w = np.concatenate(wl)
            b = np.concatenate(bl)
            img = np.concatenate(il)
        else:
            w, b, img = np.zeros(0, np.int64), np.zeros((0, 2), np.uint64), np.zeros(0, np.int32)
        if len(w) and (w.min() < 0 or w.max() >= words):
            raise ValueError("a code refers to a word outside the codebook")
        order = np.argsort(w, kind="stable")
        offsets = np.zeros(words + 1, np.int64)
        np.cumsum(np.bincount(w, minlength=words), out=offsets[1:])
        return cls(words, np.asarray(ids, np.int64), offsets, img[order], b[order])

    def without(self, file_ids: Iterable[int]) -> InvertedFile:
        """A copy without the given photos (deleted, or about to be re-encoded)."""
        drop = {int(i) for i in file_ids}
        keep = np.array([int(i) not in drop for i in self.ids.tolist()], bool)
        if keep.all():
            return self
        remap = np.cumsum(keep) - 1
        post = keep[self.img]
        word_of = np.repeat(np.arange(self.words), np.diff(self.offsets))[post]
        offsets = np.zeros(self.words + 1, np.int64)
        np.cumsum(np.bincount(word_of, minlength=self.words), out=offsets[1:])
        return InvertedFile(
            self.words,
            self.ids[keep],
            offsets,
            remap[self.img[post]].astype(np.int32),
            self.bits[post],
            self.alpha,
            self.tau,
        )

    def plus(self, items: Iterable[tuple[int, np.ndarray, np.ndarray]]) -> InvertedFile:
        """A copy with more photos (their ids must not be in the file already)."""
        items = list(items)
        if not items:
            return self
        base = len(self.ids)
        word_of = np.repeat(np.arange(self.words), np.diff(self.offsets))
        ids = [*self.ids.tolist()]
        wl, bl, il = [word_of], [self.bits], [self.img]
        for n, (fid, w, b) in enumerate(items):
            if int(fid) in self._pos:
                raise ValueError(f"file {fid} is already in the inverted file")
            ids.append(int(fid))
            wl.append(np.asarray(w, np.int64))
            bl.append(as_u64(b))
            il.append(np.full(len(w), base + n, np.int32))
        return self._from_lists(self.words, ids, wl, bl, il)

    # ---------------------------------------------------------------- querying

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def postings(self) -> int:
        return len(self.img)

    @property
    def nbytes(self) -> int:
        arrays = (self.ids, self.offsets, self.img, self.bits, self.idf, self.gamma)
        return int(sum(a.nbytes for a in arrays))

    @property
    def reads_file(self) -> bool:
        """Whether queries read the postings from a saved file (see ``postings``)."""
        return self._bits_rows.reads_file and self._img_rows.reads_file

    def __contains__(self, file_id: int) -> bool:
        return int(file_id) in self._pos

    def scores(self, words: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """ASMK* similarity of the query to every photo, ``(N,) float32`` in [0, 1].

        The postings of the query's words are read a block of words at a time (about
        ``SCORE_BLOCK`` postings), so a query's memory stays bounded whatever the library size.
        """
        n = len(self.ids)
        words = np.asarray(words, np.int64)
        if n == 0 or len(words) == 0:
            return np.zeros(n, np.float32)
        order = np.argsort(words, kind="stable")  # runs in file order: neighbours join
        words, qb = words[order], as_u64(bits)[order]
        starts = self.offsets[words]
        lens = self.offsets[words + 1] - starts
        w = self.idf[words]
        sim = np.zeros(n, np.float64)
        for a, b in _blocks(lens, SCORE_BLOCK):
            run = lens[a:b]
            post = self._bits_rows.gather(starts[a:b], run)
            h = np.bitwise_count(post[:, 0] ^ np.repeat(qb[a:b, 0], run))
            h += np.bitwise_count(post[:, 1] ^ np.repeat(qb[a:b, 1], run))
            # σ_α(1 − 2h/B) looked up by Hamming distance h, then weighted per query word
            s = self._lut[h] * np.repeat(w[a:b], run)
            part = np.bincount(self._img_rows.gather(starts[a:b], run), weights=s, minlength=n)
            if len(part) != n:
                raise ValueError("the inverted file refers to a photo it does not list")
            sim += part
        q_gamma = 1.0 / np.sqrt(max(float(w.sum()), 1e-12))
        return sim.astype(np.float32) * self.gamma * np.float32(q_gamma)

    def search(
        self, words: np.ndarray, bits: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar photos: ``D (k',) float32``, ``I (k',) int64`` file ids.

        ``allowed (N,) bool`` restricts the result to some photos (a folder filter). Photos
        with no shared word (similarity 0) are not returned.
        """
        s = self.scores(words, bits)
        if allowed is not None:
            s = np.where(allowed, s, 0.0)
        cand = np.flatnonzero(s > 0)
        if len(cand) > k:
            cand = cand[np.argpartition(-s[cand], k - 1)[:k]]
        order = cand[np.lexsort((self.ids[cand], -s[cand]))]
        return s[order], self.ids[order]

    def mask(self, file_ids: Iterable[int]) -> np.ndarray:
        """``(N,) bool``, true for the given file ids."""
        m = np.zeros(len(self.ids), bool)
        for i in file_ids:
            p = self._pos.get(int(i))
            if p is not None:
                m[p] = True
        return m

    # ---------------------------------------------------------------- persistence

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "words": np.array([self.words], np.int64),
            "ids": self.ids,
            "offsets": self.offsets,
            "img": self.img,
            "bits": self.bits,
            "params": np.array([self.alpha, self.tau], np.float64),
            "gamma": self.gamma,
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> InvertedFile:
        words = int(a["words"][0])
        offsets, img, ids = a["offsets"], a["img"], a["ids"]
        if len(offsets) != words + 1 or offsets[-1] != len(img) or len(a["bits"]) != len(img):
            raise ValueError("inverted file arrays are inconsistent")
        if np.any(np.diff(offsets) < 0):
            raise ValueError("inverted file offsets go backwards")
        # postings mapped from a file are read when a query needs them, not checked here: a
        # photo number out of range fails that query's sum instead (the file has a checksum)
        if not isinstance(img, np.memmap) and len(img) and (img.min() < 0 or img.max() >= len(ids)):
            raise ValueError("inverted file refers to a photo it does not list")
        alpha, tau = (float(x) for x in a["params"])
        gamma = a.get("gamma")
        return cls(words, ids, offsets, img, a["bits"], alpha, tau, gamma)
