"""The vector index: a cache derived from the vectors in SQLite, never the source of truth.

Exact inner-product search (``IndexFlatIP``) by default; above ``APPROX_THRESHOLD`` vectors an
HNSW graph (``IndexHNSWFlat``, M=32, efSearch=128) is chosen automatically, except where
faiss-gpu sees a GPU: there the index stays exact up to ``GPU_EXACT_MAX`` vectors. Ids are
file ids.

Without FAISS (an optional extra) the index is NumPy's exact ``ArrayIndex``, saved as
``vectors-<fingerprint>.npz``: every kind is then "flat" (an HNSW asked for falls back to exact
search, which ``NO_HNSW`` says), with the same results as FAISS's flat index up to ties.

A flat index of ``GPU_EXACT_MIN`` vectors or more, opened where faiss-gpu sees a GPU, is
searched through a GPU copy of its bare flat index made once per open (``exact_copy``); the CPU
index stays the one saved and changed. Searches restricted to some ids stay on the CPU.

The index is saved atomically (temp file, fsync, rename) next to a JSON sidecar recording the
model generation it reflects, its size and a BLAKE2b of the whole file. On load, a missing or
damaged index (any byte changed, truncated, garbage) is rebuilt from SQLite, a stale one
(generation moved on) catches up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine import faiss_device
from engine.errors import FAISS_EXTRA, NeedsFaiss
from engine.library.index.arrays import ArrayIndex
from engine.library.index.cache import CacheFile, reconcile
from engine.library.store import ModelRow, Store

APPROX_THRESHOLD = 50_000
#: with a GPU, ``auto`` stays exact (flat, searched on the GPU) up to this many vectors
GPU_EXACT_MAX = 5_000_000
HNSW_M = 32
HNSW_EF_SEARCH = 128
HNSW_EF_CONSTRUCTION = 80
INDEX_KINDS = ("auto", "flat", "hnsw")
#: a flat index this large is searched on the GPU when there is one (below, the transfer and
#: the kernel launches cost more than the CPU scan)
GPU_EXACT_MIN = 100_000
#: what an HNSW index asked for becomes without FAISS
NO_HNSW = f"HNSW needs FAISS ({FAISS_EXTRA}): exact search instead"

if TYPE_CHECKING:
    import faiss


def hnsw_unavailable() -> str | None:
    """Why an HNSW index cannot be built here (FAISS is not installed), or None."""
    return None if faiss_device.available() else f"needs FAISS: {FAISS_EXTRA}"


def gpu_available() -> bool:
    return faiss_device.gpu_count() > 0


@dataclass
class IndexInfo:
    kind: str
    count: int
    dim: int
    generation: int
    rebuilt: bool
    reason: str | None
    on_gpu: bool
    #: why the index is not the kind asked for (``NO_HNSW``), or None
    note: str | None = None


class VectorIndex:
    """One model's vectors, in FAISS or (without it) NumPy.
    ``search(xq (nq, d) float32, k) -> (D, I) (nq, k)``."""

    def __init__(
        self, index: faiss.Index | ArrayIndex, kind: str, dim: int, generation: int
    ) -> None:
        self.index = index
        self.kind = kind
        self.dim = dim
        self.generation = generation
        self.rebuilt = False
        self.reason: str | None = None
        self.note: str | None = None
        #: ``(flat, ids)``: the bare flat index (a GPU copy, or the CPU one itself) and the file
        #: id of each of its rows, ``(ntotal,) int64``; None until ``exact_copy``
        self._exact: tuple[faiss.Index, np.ndarray] | None = None

    @property
    def on_gpu(self) -> bool:
        return self._exact is not None and faiss_device.on_gpu(self._exact[0])

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def numpy(self) -> bool:
        """Whether this is NumPy's ``ArrayIndex`` (an install without FAISS)."""
        return isinstance(self.index, ArrayIndex)

    # ----------------------------------------------------------------- build

    @staticmethod
    def choose_kind(kind: str, count: int, threshold: int = APPROX_THRESHOLD) -> str:
        """The kind to build: ``kind`` itself, or for "auto" flat below ``threshold`` vectors
        (and where a GPU searches them), HNSW above. Without FAISS, always flat (``NO_HNSW``)."""
        if kind not in INDEX_KINDS:
            raise ValueError(f"index kind must be one of {INDEX_KINDS}, not {kind!r}")
        if not faiss_device.available():
            return "flat"
        if kind != "auto":
            return kind
        if count < threshold:
            return "flat"
        # where FAISS has a GPU, exact search of a few million vectors takes milliseconds there
        return "flat" if gpu_available() and count < GPU_EXACT_MAX else "hnsw"

    @classmethod
    def empty(cls, dim: int, kind: str, generation: int = 0) -> VectorIndex:
        """An index of ``kind`` ("flat" or "hnsw"; HNSW raises ``NeedsFaiss`` without FAISS)."""
        if not faiss_device.available():
            if kind == "hnsw":
                raise NeedsFaiss("an HNSW index")
            return cls(ArrayIndex(dim), "flat", dim, generation)
        faiss = faiss_device.module()
        if kind == "hnsw":
            base = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            base.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            base = faiss.IndexFlatIP(dim)
        return cls(faiss.IndexIDMap2(base), kind, dim, generation)

    def add(self, ids: np.ndarray, xb: np.ndarray) -> None:
        """``ids (n,) int64``, ``xb (n, d) float32``."""
        self._exact = None  # its id array (and a GPU copy's rows) no longer match
        self.index.add_with_ids(
            np.ascontiguousarray(xb, dtype=np.float32), np.ascontiguousarray(ids, dtype=np.int64)
        )

    @classmethod
    def build(
        cls, store: Store, model: ModelRow, kind: str = "auto", threshold: int = APPROX_THRESHOLD
    ) -> VectorIndex:
        """Build from the vectors stored in SQLite (the generation is read first, so a
        concurrent writer can only make the result look stale, never wrongly fresh)."""
        generation = store.models.generation(model.id)
        count = store.vectors.count_vectors(model.id)
        vi = cls.empty(model.dim, cls.choose_kind(kind, count, threshold), generation)
        for ids, xb in store.vectors.iter_vectors(model.id):
            vi.add(ids, xb)
        return vi

    # ----------------------------------------------------------------- persistence

    @staticmethod
    def file(
        directory: str | os.PathLike, fingerprint: str, numpy: bool | None = None
    ) -> CacheFile:
        """``<fingerprint>.faiss`` with FAISS, ``vectors-<fingerprint>.npz`` without (each
        with its own sidecar: an install with and one without FAISS never read each other's);
        ``numpy`` picks one, by default this install's."""
        if numpy is None:
            numpy = not faiss_device.available()
        if numpy:
            return CacheFile(directory, f"vectors-{fingerprint}", ".npz")
        return CacheFile(directory, fingerprint, ".faiss")

    def save(self, directory: str | os.PathLike, fingerprint: str) -> None:
        meta = {"generation": self.generation, "kind": self.kind, "dim": self.dim}
        meta["count"] = self.ntotal
        self.file(directory, fingerprint, self.numpy).save(self._write, meta)

    def _write(self, path: str) -> None:
        if self.numpy:
            self.index.write(path)
        elif _faiss_takes(path):
            faiss_device.module().write_index(self.index, path)
        else:  # a name FAISS's C++ cannot be given (bytes that are not UTF-8): Python writes
            faiss = faiss_device.module()
            with open(path, "wb") as f:
                faiss.write_index(self.index, faiss.PyCallbackIOWriter(f.write))

    @classmethod
    def load(cls, directory: str | os.PathLike, fingerprint: str) -> tuple[VectorIndex | None, str]:
        """The saved index, or ``(None, reason)`` when it is missing or damaged."""

        def read(path: Path, meta: dict) -> VectorIndex:
            if faiss_device.available() and _faiss_takes(str(path)):
                index = faiss_device.module().read_index(str(path))
            elif faiss_device.available():
                faiss = faiss_device.module()
                with open(path, "rb") as f:
                    index = faiss.read_index(faiss.PyCallbackIOReader(f.read))
            else:
                index = ArrayIndex.read(str(path))
            if index.ntotal != meta["count"] or index.d != meta["dim"]:
                raise ValueError("size mismatch")
            return cls(index, meta["kind"], int(meta["dim"]), int(meta["generation"]))

        return cls.file(directory, fingerprint).load(read)

    @classmethod
    def open(
        cls,
        store: Store,
        model: ModelRow,
        directory: str | os.PathLike,
        kind: str = "auto",
        threshold: int = APPROX_THRESHOLD,
        save: bool = True,
        use_gpu: faiss_device.UseGpu | None = None,
        gpu_min: int = GPU_EXACT_MIN,
    ) -> VectorIndex:
        """The saved index if it reflects the store's current generation, caught up if older,
        else rebuilt (and saved, when ``save``; see ``cache.reconcile``). A flat index of
        ``gpu_min`` vectors or more is then searched through a GPU copy when ``use_gpu`` picks
        the GPU (``None``/"auto": when faiss-gpu sees one). Without FAISS an HNSW asked for
        is a flat index whose ``note`` says why."""
        loaded, reason = cls.load(directory, model.fingerprint)
        want = cls.choose_kind(kind, store.vectors.count_vectors(model.id), threshold)
        vi = reconcile(
            loaded,
            reason,
            store.models.generation(model.id),
            build=lambda: cls.build(store, model, kind, threshold),
            catch_up=lambda v: v.catch_up(store, model),
            save=(lambda v: v.save(directory, model.fingerprint)) if save else None,
            shape_ok=lambda v: None if v.kind == want else f"kind {v.kind}",
        )
        if vi.kind == "flat" and vi.ntotal >= gpu_min and not vi.numpy:
            vi.exact_copy("auto" if use_gpu is None else use_gpu)
        vi.note = NO_HNSW if kind == "hnsw" and vi.numpy else None
        return vi

    def ids(self) -> np.ndarray:
        """The file ids held, ``(ntotal,) int64``."""
        if self.numpy:
            return self.index.ids()
        return faiss_device.module().vector_to_array(self.index.id_map).astype(np.int64)

    def catch_up(self, store: Store, model: ModelRow) -> bool:
        """Apply what changed in SQLite since this index's generation: vectors written later
        are (re)added, ids that left SQLite are removed. Returns False when the change needs a
        full rebuild (an HNSW graph cannot remove points)."""
        held = self.ids()
        gone = np.setdiff1d(held, store.vectors.vector_ids(model.id), assume_unique=True)
        fresh = list(store.vectors.iter_vectors(model.id, newer_than=self.generation))
        fresh_ids = np.concatenate([i for i, _ in fresh]) if fresh else np.zeros(0, np.int64)
        replace = np.intersect1d(held, fresh_ids, assume_unique=True)
        remove = np.union1d(gone, replace)
        if len(remove):
            if self.kind != "flat":
                return False
            self._exact = None
            if self.numpy:
                self.index.remove_ids(remove)
            else:
                sel = faiss_device.module().IDSelectorBatch(remove.astype(np.int64))
                self.index.remove_ids(sel)
        for ids, xb in fresh:
            self.add(ids, xb)
        return True

    def exact_copy(self, use_gpu: faiss_device.UseGpu = "auto") -> None:
        """Search a flat index through its bare ``IndexFlatIP`` and an array of the file ids,
        on GPU 0 when ``use_gpu`` picks it (a copy), else the CPU index's own flat (no copy):
        the same search as the ``IndexIDMap2``, whose labels are rows of that array. Adding or
        removing vectors drops it; the next open makes it again."""
        if self.kind != "flat" or self.numpy:
            raise ValueError("only a flat FAISS index has an exact copy")
        flat = faiss_device.module().downcast_index(self.index.index)
        self._exact = (faiss_device.to_device(flat, use_gpu), self.ids())

    def to_gpu(self) -> None:
        """Search through a GPU copy, when faiss sees a GPU (``exact_copy``)."""
        if self.kind == "flat" and not self.on_gpu and not self.numpy:
            self.exact_copy(True)

    # ----------------------------------------------------------------- search

    def search(
        self, xq: np.ndarray, k: int, ids: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``xq (nq, d) float32`` → ``D, I (nq, k)``; ``I`` is -1 where fewer than k exist.

        ``ids`` restricts the search to those file ids.
        """
        xq = np.ascontiguousarray(np.atleast_2d(xq), dtype=np.float32)
        k = max(1, min(int(k), max(self.ntotal, 1)))
        if self.numpy:
            return self.index.search(xq, k, ids)
        faiss = faiss_device.module()
        exact = self._exact
        if ids is None and exact is not None:
            flat, rows = exact
            if not faiss_device.on_gpu(flat) or k <= faiss_device.GPU_MAX_K:
                with faiss_device.lock_for(flat):
                    D, I = flat.search(xq, k)
                return D, np.where(I >= 0, rows[np.maximum(I, 0)], -1)
        if ids is None:
            return self.index.search(xq, k)
        sel = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(HNSW_EF_SEARCH, 4 * k))
        else:
            params = faiss.SearchParameters(sel=sel)
        return self.index.search(xq, k, params=params)

    def info(self) -> IndexInfo:
        return IndexInfo(
            self.kind,
            self.ntotal,
            self.dim,
            self.generation,
            self.rebuilt,
            self.reason,
            self.on_gpu,
            self.note,
        )


def _faiss_takes(path: str) -> bool:
    """Whether FAISS can open ``path`` itself: its bindings pass names as UTF-8, which a name
    with bytes that are not (kept by Python as surrogate escapes) cannot be."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
