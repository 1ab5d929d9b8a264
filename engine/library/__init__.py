"""A photo library: folders indexed into SQLite (source of truth) plus a FAISS index (cache).

``Library(dir)`` is what the CLI and the GUI use::

    lib = Library("~/my-library")
    summary = lib.index(["~/Pictures"], model="default", progress=..., should_stop=...)
    result = lib.search("query.jpg", box=(10, 10, 200, 200), k=20)
    groups = lib.duplicates(threshold=0.95)
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..checkpoint import model_fingerprint, resolve_model
from ..errors import ConfigError, VisualSearchError
from ..extract import Box, Extractor
from ..imageio import PhotoSource
from ..paths import default_library_dir
from .indexer import Indexer, IndexSummary, ProgressFn, StopFn
from .lock import LibraryBusyError, WriterLock
from .store import FileRow, ModelRow, Store, fs_bytes, fs_text
from .vectors import APPROX_THRESHOLD, VectorIndex

__all__ = ["Hit", "Library", "LibraryBusyError", "SearchResult"]


@dataclass
class Hit:
    """One ranked match."""

    file_id: int
    path: str
    score: float
    width: int | None = None
    height: int | None = None
    folder: str | None = None
    inliers: int | None = None  # set when the result was geometrically verified


@dataclass
class SearchResult:
    """A query's descriptor and attention, and its ranked matches.

    ``attention (h, w)`` and ``input_size`` describe the query as the network saw it (the box
    region when a box was given) — what the GUI needs to overlay a heatmap.
    """

    query: str
    box: Box | None
    hits: list[Hit]
    descriptor: np.ndarray
    attention: np.ndarray
    input_size: tuple[int, int]
    original_size: tuple[int, int]
    model: str
    index_kind: str
    seconds: float
    excluded_self: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "box": list(self.box) if self.box else None,
            "model": self.model,
            "index": self.index_kind,
            "seconds": round(self.seconds, 4),
            "results": [
                {"path": h.path, "score": round(h.score, 6), "width": h.width, "height": h.height}
                for h in self.hits
            ],
        }


def export_results(result: SearchResult, path: str | os.PathLike) -> None:
    """Write a ranked list as CSV (``rank,score,path,width,height``) or JSON, by suffix."""
    import csv
    import json

    p = Path(path)
    if p.suffix.lower() == ".json":
        p.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
        return
    with open(p, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(["rank", "score", "path", "width", "height"])
        for i, h in enumerate(result.hits, start=1):
            w.writerow([i, f"{h.score:.6f}", h.path, h.width or "", h.height or ""])


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

        self_id = None
        if exclude_self and isinstance(query, (str, os.PathLike)) and box is None:
            r = self.store.file_by_path(query)
            self_id = r.id if r else None
        ids = None
        if folder is not None:
            hit = self.store.folder_for(folder)
            prefix = fs_bytes(folder)
            candidates = self.store.files_in_folder(hit[0]).values() if hit is not None else []
            ids = np.array(
                [
                    r.id
                    for r in candidates
                    if r.path == prefix or r.path.startswith(prefix.rstrip(b"/") + b"/")
                ],
                dtype=np.int64,
            )
        # re-ranking verifies a shortlist that may be longer than what is returned
        shortlist = max(k, rerank)
        want = shortlist + (1 if self_id is not None else 0)
        if vi.ntotal == 0 or (ids is not None and len(ids) == 0):
            D, I = np.zeros((1, 0), np.float32), np.zeros((1, 0), np.int64)
        elif ids is not None and vi.kind != "flat":
            # a filtered graph search can miss matches: rank the folder exactly instead
            vecs = self.store.vectors_for(row.id, ids)
            vid = np.fromiter(vecs, dtype=np.int64, count=len(vecs))
            xb = np.stack([vecs[i] for i in vid]) if len(vid) else np.zeros((0, row.dim))
            s = xb @ out.descriptor
            order = np.argsort(-s)[:want]
            D, I = s[order][None], vid[order][None]
        else:
            D, I = vi.search(out.descriptor[None], want, ids)
        pairs = [
            (int(i), float(d)) for d, i in zip(D[0], I[0], strict=True) if i >= 0 and i != self_id
        ][:shortlist]
        rows = self.store.files_by_ids(i for i, _ in pairs)
        hits = [
            Hit(i, rows[i].display_path, s, rows[i].width, rows[i].height)
            for i, s in pairs
            if i in rows
        ]
        t3 = time.perf_counter()
        if rerank and hits:
            from ..geometry import rerank_order, verify

            qf = self._features.get(query, box)
            top = hits[:rerank]
            inliers = [verify(qf, self._features.get(h.path)).inliers for h in top]
            for h, n in zip(top, inliers, strict=True):
                h.inliers = n
            hits = [top[i] for i in rerank_order(inliers)] + hits[rerank:]
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

    def duplicates(
        self, threshold: float = 0.95, model: str | None = None, k: int = 16
    ) -> list[list[Hit]]:
        """Groups of near-duplicate photos: pairs with similarity ≥ ``threshold`` joined
        transitively (each photo's ``k`` nearest neighbours are checked)."""
        _, row = self.model(model)
        vi = self.vector_index(row)
        parent: dict[int, int] = {}

        def find(a: int) -> int:
            while parent.setdefault(a, a) != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        best: dict[int, float] = {}
        for ids, xb in self.store.iter_vectors(row.id, chunk=4096):
            D, I = vi.search(xb, min(k + 1, max(vi.ntotal, 1)))
            for qi, drow, irow in zip(ids, D, I, strict=True):
                for d, j in zip(drow, irow, strict=True):
                    if j < 0 or j == qi or d < threshold:
                        continue
                    parent[find(int(qi))] = find(int(j))
                    best[int(qi)] = max(best.get(int(qi), -1.0), float(d))
                    best[int(j)] = max(best.get(int(j), -1.0), float(d))
        groups: dict[int, list[int]] = {}
        for a in list(parent):
            groups.setdefault(find(a), []).append(a)
        rows = self.store.files_by_ids(a for g in groups.values() for a in g)
        out = []
        for members in groups.values():
            if len(members) < 2:
                continue
            hits = sorted(
                (
                    Hit(m, rows[m].display_path, best.get(m, 0.0), rows[m].width, rows[m].height)
                    for m in members
                    if m in rows
                ),
                key=lambda h: h.path,
            )
            out.append(hits)
        out.sort(key=lambda g: (-len(g), g[0].path))
        return out

    def errors(self) -> list[FileRow]:
        return self.store.failed_files()

    def status(self) -> dict:
        counts = self.store.counts()
        folders = []
        for fid, path in self.store.folders():
            c = counts["folders"].get(fid, {})
            folders.append(
                {
                    "path": fs_text(path),
                    "exists": os.path.isdir(path),
                    "indexed": c.get("ok", 0),
                    "pending": c.get("new", 0),
                    "failed": c.get("failed", 0),
                }
            )
        models = []
        for m in self.store.models():
            loaded, _ = VectorIndex.load(self.index_dir, m.fingerprint)
            models.append(
                {
                    "spec": m.spec,
                    "fingerprint": m.fingerprint,
                    "architecture": m.config.get("architecture"),
                    "backbone": m.config.get("backbone"),
                    "dim": m.dim,
                    "vectors": counts["vectors"].get(m.id, 0),
                    "index": loaded.kind if loaded else None,
                    "index_current": bool(loaded and loaded.generation == m.generation),
                }
            )
        size = sum(f.stat().st_size for f in self.dir.glob("library.sqlite3*"))
        index_size = (
            sum(f.stat().st_size for f in self.index_dir.glob("*.faiss"))
            if self.index_dir.exists()
            else 0
        )
        files = counts["files"]
        return {
            "library": str(self.dir),
            "folders": folders,
            "files": {
                "indexed": files.get("ok", 0),
                "pending": files.get("new", 0),
                "failed": files.get("failed", 0),
            },
            "models": models,
            "bytes": {"database": size, "index": index_size},
        }


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


__all__ += ["IndexSummary", "VisualSearchError", "ensure_not_busy"]
