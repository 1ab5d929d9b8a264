"""The exact index of an install without FAISS: the vectors and their file ids in two NumPy
arrays, searched by inner product with ``engine.match.nearest.knn_ip``.

It answers the few calls ``VectorIndex`` makes of FAISS's ``IndexIDMap2(IndexFlatIP)``
(``ntotal``, ``d``, ``add_with_ids``, ``remove_ids``, ``search``) with the same results up to
the order of ties, and saves as an ``.npz`` of plain arrays (read back with
``allow_pickle=False``).
"""

from __future__ import annotations

import numpy as np

from engine.match.nearest import knn_ip


class ArrayIndex:
    """``vectors (n, d) float32`` and ``ids (n,) int64``; additions are kept in chunks and
    joined on the next search (adding in batches stays linear)."""

    def __init__(self, d: int, ids: np.ndarray | None = None, xb: np.ndarray | None = None):
        self.d = int(d)
        self._ids = np.zeros(0, np.int64) if ids is None else np.asarray(ids, np.int64)
        self._xb = np.zeros((0, self.d), np.float32) if xb is None else np.asarray(xb, np.float32)
        self._chunks: list[tuple[np.ndarray, np.ndarray]] = []

    def _join(self) -> None:
        if self._chunks:
            self._ids = np.concatenate([self._ids, *(i for i, _ in self._chunks)])
            self._xb = np.concatenate([self._xb, *(x for _, x in self._chunks)])
            self._chunks = []

    @property
    def ntotal(self) -> int:
        return len(self._ids) + sum(len(i) for i, _ in self._chunks)

    @property
    def nbytes(self) -> int:
        self._join()
        return int(self._ids.nbytes + self._xb.nbytes)

    def ids(self) -> np.ndarray:
        self._join()
        return self._ids.copy()

    def add_with_ids(self, xb: np.ndarray, ids: np.ndarray) -> None:
        xb = np.ascontiguousarray(xb, dtype=np.float32).reshape(-1, self.d)
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        if len(xb) != len(ids):
            raise ValueError(f"{len(ids)} ids for {len(xb)} vectors")
        self._chunks.append((ids.copy(), xb.copy()))

    def remove_ids(self, ids: np.ndarray) -> int:
        """Drop the rows of these file ids; returns how many went."""
        self._join()
        keep = ~np.isin(self._ids, np.asarray(ids, np.int64))
        gone = int(len(keep) - keep.sum())
        if gone:
            self._ids, self._xb = self._ids[keep], self._xb[keep]
        return gone

    def search(
        self, xq: np.ndarray, k: int, ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``D, I (nq, k)``: inner products, largest first, and file ids (-1 where fewer than
        k exist); ``ids`` restricts the search to those file ids."""
        self._join()
        rows = None if ids is None else np.flatnonzero(np.isin(self._ids, np.asarray(ids)))
        D, R = knn_ip(xq, self._xb, k, rows)
        return D, np.where(R >= 0, self._ids[np.maximum(R, 0)] if len(self._ids) else -1, -1)

    # ----------------------------------------------------------------- persistence

    def write(self, path: str) -> None:
        self._join()
        with open(path, "wb") as f:
            np.savez(f, ids=self._ids, vectors=self._xb)

    @classmethod
    def read(cls, path: str) -> ArrayIndex:
        """Raises ``ValueError`` for a file that is not two matching arrays."""
        with np.load(path, allow_pickle=False) as z:
            ids, xb = z["ids"], z["vectors"]
        if ids.dtype != np.int64 or xb.dtype != np.float32 or xb.ndim != 2:
            raise ValueError("unexpected arrays")
        if ids.shape != (len(xb),):
            raise ValueError("size mismatch")
        return cls(xb.shape[1], ids, xb)
