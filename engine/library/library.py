"""A photo library: folders indexed into SQLite (source of truth) plus a FAISS index (cache).

``Library(dir)`` is what the CLI and the GUI use::

    with Library("~/my-library") as lib:
        summary = lib.index(["~/Pictures"], model="default", progress=..., should_stop=...)
        result = lib.search("query.jpg", box=(10, 10, 200, 200), k=20)
        groups = lib.duplicates(threshold=0.95)
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np

from ..checkpoint import model_fingerprint, resolve_model
from ..errors import ConfigError
from ..extract import Box, Extractor
from ..imageio import PhotoSource
from ..paths import default_library_dir
from .duplicates import find_duplicates
from .indexer import Indexer, IndexSummary, ProgressFn, StopFn
from .lock import WriterLock
from .results import Hit, SearchResult
from .status import library_status
from .store import FileRow, ModelRow, Store, fs_bytes, fs_text
from .vectors import APPROX_THRESHOLD, VectorIndex

__all__ = ["Library", "ensure_not_busy"]


class Library:
    def __init__(
        self,
        directory: str | os.PathLike | None = None,
        device: str = "auto",
        index_kind: str = "auto",
        approx_threshold: int = APPROX_THRESHOLD,
    ) -> None:
        self.dir = Path(directory).expanduser() if directory else default_library_dir()
        self.store = Store(self.dir)
        self.index_dir = self.dir / "index"
        self.device = device
        self.index_kind = index_kind
        self.approx_threshold = approx_threshold
        self._models: dict[str, tuple[Extractor, ModelRow]] = {}
        self._indexes: dict[str, VectorIndex] = {}
        self._lock = threading.RLock()
        self._features = _LazyFeatureCache()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- models

    def configure(self, device: str | None = None, index_kind: str | None = None) -> None:
        """Use another device or index type from now on; loaded models and indexes are
        dropped, so the next call loads them afresh."""
        with self._lock:
            if device is not None:
                self.device = device
            if index_kind is not None:
                self.index_kind = index_kind
            self._models.clear()
            self._indexes.clear()

    def current_model_spec(self) -> str:
        """The model most recently used to index this library (``default`` for a new one)."""
        models = self.store.models()
        return models[0].spec if models else "default"

    def model(self, spec: str | None = None) -> tuple[Extractor, ModelRow]:
        """The extractor and store row of a model (cached per spec)."""
        spec = spec or self.current_model_spec()
        if os.path.isdir(os.path.expanduser(spec)):
            spec = os.path.abspath(os.path.expanduser(spec))
        with self._lock:
            if spec not in self._models:
                net = resolve_model(spec)
                ex = Extractor(net, device=self.device)
                row = self.store.ensure_model(
                    model_fingerprint(net), spec, net.config.to_dict(), int(net.num_features)
                )
                self._models[spec] = (ex, row)
            return self._models[spec]

    def vector_index(self, row: ModelRow) -> VectorIndex:
        """The FAISS index of ``row``'s vectors, rebuilt if the store has moved on."""
        with self._lock:
            cached = self._indexes.get(row.fingerprint)
            if cached is not None and cached.generation == self.store.generation(row.id):
                return cached
            vi = VectorIndex.open(
                self.store, row, self.index_dir, self.index_kind, self.approx_threshold
            )
            self._indexes[row.fingerprint] = vi
            return vi

    # ----------------------------------------------------------------- writing

    def index(
        self,
        paths: list[str | os.PathLike],
        model: str | None = None,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
        exclude: list[str | os.PathLike] | None = None,
    ) -> IndexSummary:
        """Add ``paths`` (folders) if new, scan them and index what changed.

        Photos under ``exclude`` folders are left out (and leave the library if they were in).
        One writer at a time: a second process gets ``LibraryBusyError`` at once.
        """
        t0 = time.perf_counter()
        for p in paths:
            if not os.path.isdir(p):
                what = "does not exist" if not os.path.exists(p) else "is not a folder"
                raise ConfigError(f"{p}: {what}")
        with WriterLock(self.dir):
            ex, row = self.model(model)
            summary = IndexSummary()
            folders = []
            for p in paths:
                fid, fp, notes = self.store.add_folder(p)
                summary.problems.extend(notes)
                if (fid, fp) not in folders:
                    folders.append((fid, fp))
            # a folder absorbed by a parent added in the same call is gone: use the survivors
            alive = {fid for fid, _ in self.store.folders()}
            folders = [(fid, fp) for fid, fp in folders if fid in alive]
            skip = tuple(fs_bytes(x) for x in exclude or ())
            indexer = Indexer(self.store, ex, row, progress, should_stop, skip)
            indexer.scan(folders, summary)
            if not summary.cancelled:
                indexer.extract_pending([fid for fid, _ in folders], summary)
            self.vector_index(row)  # refresh and save the FAISS cache
        summary.seconds = time.perf_counter() - t0
        return summary

    def rescan(
        self,
        model: str | None = None,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> IndexSummary:
        """Re-scan every registered folder that still exists."""
        paths = [fs_text(p) for _, p in self.store.folders() if os.path.isdir(p)]
        return self.index(paths, model, progress, should_stop) if paths else IndexSummary()

    def forget(self, path: str | os.PathLike) -> tuple[int, int]:
        """Remove a folder (or one file) from the library; the photos themselves are untouched."""
        with WriterLock(self.dir):
            return self.store.forget(path)

    # ----------------------------------------------------------------- reading

    def search(
        self,
        query: PhotoSource,
        box: Box | None = None,
        k: int = 20,
        folder: str | os.PathLike | None = None,
        model: str | None = None,
        exclude_self: bool = True,
        rerank: int = 0,
    ) -> SearchResult:
        """Rank library photos by similarity to ``query`` (a path, bytes or PIL image).

        ``rerank=K`` re-orders the top K by geometric verification (RANSAC inliers of local
        features): verified matches first, by inliers; the rest keep their order.
        """
        t0 = time.perf_counter()
        ex, row = self.model(model)
        out = ex.extract_one(query, box=box)
        t1 = time.perf_counter()
        vi = self.vector_index(row)
        t2 = time.perf_counter()
        self_id = self._query_file_id(query, box) if exclude_self else None
        ids = self._folder_file_ids(folder) if folder is not None else None
        # re-ranking verifies a shortlist that may be longer than what is returned
        shortlist = max(k, rerank)
        want = shortlist + (1 if self_id is not None else 0)
        D, I = self._nearest(vi, row, out.descriptor, want, ids)
        pairs = [
            (int(i), float(d)) for d, i in zip(D[0], I[0], strict=True) if i >= 0 and i != self_id
        ][:shortlist]
        hits = self._hits(pairs)
        t3 = time.perf_counter()
        if rerank and hits:
            hits = self._rerank(query, box, hits, rerank)
        hits = hits[:k]
        t4 = time.perf_counter()
        return SearchResult(
            query=fs_text(fs_bytes(query)) if isinstance(query, (str, os.PathLike)) else "<image>",
            box=out.box,
            hits=hits,
            descriptor=out.descriptor,
            attention=out.attention,
            input_size=out.input_size,
            original_size=out.original_size,
            model=row.spec,
            index_kind=vi.kind,
            seconds=t3 - t0,
            excluded_self=self_id is not None,
            timings={"extract": t1 - t0, "index": t2 - t1, "search": t3 - t2, "rerank": t4 - t3},
        )

    def _query_file_id(self, query: PhotoSource, box: Box | None) -> int | None:
        """The library's id for a whole-photo query that is itself in the library."""
        if box is not None or not isinstance(query, (str, os.PathLike)):
            return None
        r = self.store.file_by_path(query)
        return r.id if r else None

    def _folder_file_ids(self, folder: str | os.PathLike) -> np.ndarray:
        """``(n,) int64`` ids of the library's files under ``folder``."""
        return np.array(self.store.file_ids_under(folder), dtype=np.int64)

    def _nearest(
        self,
        vi: VectorIndex,
        row: ModelRow,
        xq: np.ndarray,
        k: int,
        ids: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``xq (d,)`` → ``D, I (1, k)`` best first, among ``ids`` when given (``I`` may hold
        -1 where fewer than k exist)."""
        if vi.ntotal == 0 or (ids is not None and len(ids) == 0):
            return np.zeros((1, 0), np.float32), np.zeros((1, 0), np.int64)
        if ids is not None and vi.kind != "flat":
            # a filtered graph search can miss matches: rank the folder exactly instead
            vecs = self.store.vectors_for(row.id, ids)
            vid = np.fromiter(vecs, dtype=np.int64, count=len(vecs))
            xb = np.stack([vecs[i] for i in vid]) if len(vid) else np.zeros((0, row.dim))
            s = xb @ xq
            order = np.argsort(-s)[:k]
            return s[order][None], vid[order][None]
        return vi.search(xq[None], k, ids)

    def _hits(self, pairs: list[tuple[int, float]]) -> list[Hit]:
        """``(file id, score)`` pairs as hits, in order (files gone meanwhile are dropped)."""
        rows = self.store.files_by_ids(i for i, _ in pairs)
        return [
            Hit(i, rows[i].display_path, s, rows[i].width, rows[i].height)
            for i, s in pairs
            if i in rows
        ]

    def _rerank(self, query: PhotoSource, box: Box | None, hits: list[Hit], top: int) -> list[Hit]:
        """Verified matches among the first ``top`` hits first, by inliers; the rest keep
        their order."""
        from ..geometry import rerank_order, verify

        qf = self._features.get(query, box)
        head = hits[:top]
        inliers = [verify(qf, self._features.get(h.path)).inliers for h in head]
        for h, n in zip(head, inliers, strict=True):
            h.inliers = n
        return [head[i] for i in rerank_order(inliers)] + hits[top:]

    def duplicates(
        self, threshold: float = 0.95, model: str | None = None, k: int = 16
    ) -> list[list[Hit]]:
        """Groups of near-duplicate photos: pairs with similarity ≥ ``threshold`` joined
        transitively (each photo's ``k`` nearest neighbours are checked)."""
        _, row = self.model(model)
        return find_duplicates(self.store, self.vector_index(row), row.id, threshold, k)

    def errors(self) -> list[FileRow]:
        return self.store.failed_files()

    def status(self) -> dict:
        return library_status(self.store, self.dir, self.index_dir)


class _LazyFeatureCache:
    """Local features for re-ranking, created on first use (OpenCV loads only if needed)."""

    def __init__(self) -> None:
        self._cache = None

    def get(self, src, box=None):
        if self._cache is None:
            from ..geometry import FeatureCache

            self._cache = FeatureCache(capacity=512)
        return self._cache.get(src, box)


def ensure_not_busy(directory: str | os.PathLike) -> None:
    """Raise ``LibraryBusyError`` if another process is writing to the library."""
    with WriterLock(directory):
        pass
