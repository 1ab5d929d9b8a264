"""A photo library: folders indexed into SQLite (source of truth) plus a FAISS index (cache).

``Library(dir)`` is what the CLI and the GUI use::

    with Library("~/my-library") as lib:
        summary = lib.index(["~/Pictures"], model="default", progress=..., should_stop=...)
        result = lib.search("query.jpg", box=(10, 10, 200, 200), k=20)
        groups = lib.duplicates()
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.library.index.indexer import IndexSummary, ProgressFn, StopFn
from engine.library.index.inverted import LocalIndex
from engine.library.index.model_stamps import ModelStamps
from engine.library.index.vector_index import APPROX_THRESHOLD, VectorIndex
from engine.library.query.duplicates import MIN_RATIO, DuplicateGroup, find_duplicates
from engine.library.query.results import SearchResult
from engine.library.status import library_status
from engine.library.store import FileRow, ModelRow, Store, fs_text
from engine.library.store.lock import ensure_not_busy
from engine.match.codebook import Codebook, CodebookError, default_codebook
from engine.match.describe import MAX_FEATURES
from engine.match.rank import GLOBAL_WEIGHT, VERIFY_TOP, learned_from_photos
from engine.match.verify import Verification
from engine.paths import default_library_dir
from engine.photo.decode import PhotoSource

if TYPE_CHECKING:  # these load torch: imported where a model is needed, not before
    from engine.library.query.outlines import Location
    from engine.library.query.search import Query
    from engine.network.extract import Extractor

__all__ = ["Library", "ensure_not_busy"]

Box = tuple[float, float, float, float]


class Library:
    def __init__(
        self,
        directory: str | os.PathLike | None = None,
        device: str = "auto",
        index_kind: str = "auto",
        approx_threshold: int = APPROX_THRESHOLD,
        max_features: int = MAX_FEATURES,
        mode: str = "create",
    ) -> None:
        """``max_features``: the strongest RootSIFT features kept per photo (and query).
        ``mode``: ``create`` (made if missing), ``write`` (must exist) or ``read`` (must
        exist; nothing is written to its database). One that cannot be written searches."""
        self.dir = Path(directory).expanduser() if directory else default_library_dir()
        self.max_features = int(max_features)
        self.store = Store(self.dir, mode)
        self.index_dir = self.dir / "index"
        self.device = device
        self.index_kind = index_kind
        self.approx_threshold = approx_threshold
        self._models: dict[str, tuple[Extractor, ModelRow]] = {}
        self._indexes: dict[str, VectorIndex] = {}
        self._lock = threading.RLock()
        self._codebook: Codebook | None = None
        self._local: LocalIndex | None = None
        self._last_query: tuple | None = None

    @property
    def read_only(self) -> bool:
        """Whether this library can only be searched (see ``store.read_only_reason``)."""
        return self.store.read_only

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
        models = self.store.models.all()
        return models[0].spec if models else "default"

    def _spec(self, spec: str | None) -> str:
        spec = spec or self.current_model_spec()
        if os.path.isdir(os.path.expanduser(spec)):
            spec = os.path.abspath(os.path.expanduser(spec))
        return spec

    def model(self, spec: str | None = None) -> tuple[Extractor, ModelRow]:
        """The extractor and store row of a model (cached per spec)."""
        from engine.network.checkpoint import model_fingerprint, resolve_model
        from engine.network.extract import Extractor

        spec = self._spec(spec)
        with self._lock:
            if spec not in self._models:
                net = resolve_model(spec)
                ex = Extractor(net, device=self.device)
                fingerprint = model_fingerprint(net)
                row = self.store.models.ensure(
                    fingerprint, spec, net.config.to_dict(), int(net.num_features)
                )
                if not self.read_only:
                    ModelStamps(self.index_dir).record(spec, fingerprint)
                self._models[spec] = (ex, row)
            return self._models[spec]

    def model_row(self, spec: str | None = None) -> ModelRow:
        """The store row of a model, without loading it when its checkpoint files are those
        of an earlier load (see ``model_stamps``); else as ``model(spec)[1]``."""
        spec = self._spec(spec)
        with self._lock:
            if spec in self._models:
                return self._models[spec][1]
            fingerprint = ModelStamps(self.index_dir).fingerprint(spec)
            row = self.store.models.get(fingerprint) if fingerprint else None
            if row is None:
                return self.model(spec)[1]
            return self.store.models.ensure(row.fingerprint, spec, row.config, row.dim)

    def vector_index(self, row: ModelRow) -> VectorIndex:
        """The FAISS index of ``row``'s vectors, rebuilt if the store has moved on."""
        with self._lock:
            cached = self._indexes.get(row.fingerprint)
            if cached is not None and cached.generation == self.store.models.generation(row.id):
                return cached
            vi = VectorIndex.open(
                self.store, row, self.index_dir, self.index_kind, self.approx_threshold
            )
            self._indexes[row.fingerprint] = vi
            return vi

    def codebook(self) -> Codebook:
        """The codebook local codes are made with: one learned from this library (kept in
        SQLite) when one was made active, else the generic codebook shipped with the product."""
        with self._lock:
            active = self.store.codes.active_codebook()
            if self._codebook is not None and self._codebook.fingerprint == (
                active or self._codebook.fingerprint
            ):
                return self._codebook
            book = None
            if active:
                centroids = self.store.codes.codebook_centroids(active)
                book = Codebook(centroids) if centroids is not None else None
            if book is None:
                book = default_codebook()
            self.store.codes.ensure_codebook(book.fingerprint, book.size, book.meta)
            self._codebook = book
            return book

    def local_index(self, book: Codebook | None = None) -> LocalIndex:
        """The inverted file of the codebook's codes, caught up or rebuilt from SQLite."""
        book = book or self.codebook()
        with self._lock:
            li = self._local
            gen = self.store.codes.local_generation(book.fingerprint)
            if li is not None and li.codebook == book.fingerprint and li.generation == gen:
                return li
            self._local = LocalIndex.open(self.store, book.fingerprint, book.size, self.index_dir)
            return self._local

    # ----------------------------------------------------------------- writing

    def index(
        self,
        paths: list[str | os.PathLike],
        model: str | None = None,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
        exclude: list[str | os.PathLike] | None = None,
        local: bool = True,
    ) -> IndexSummary:
        """Add ``paths`` (folders) if new, scan them and index what changed.

        ``local=False`` skips the local features (for measuring the network alone; searches
        then find no verified match for the photos indexed so).

        Photos under ``exclude`` folders are left out (and leave the library if they were in).
        One writer at a time: a second process gets ``LibraryBusyError`` at once.
        """
        from engine.library.index.folders import index_folders

        return index_folders(self, paths, model, progress, should_stop, exclude, local)

    def learn_codebook(
        self,
        words: int | None = None,
        max_photos: int = 2000,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> IndexSummary:
        """Learn a codebook from this library and re-encode every photo with it (see
        ``codebook_learning.learn_library_codebook``)."""
        from engine.library.index.reencode import learn_library_codebook

        summary = learn_library_codebook(self, words, max_photos, progress, should_stop)
        with self._lock:
            self._codebook = None
        return summary

    def rescan(
        self,
        model: str | None = None,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> IndexSummary:
        """Re-scan every registered folder that still exists."""
        paths = [fs_text(p) for _, p in self.store.files.folders() if os.path.isdir(p)]
        return self.index(paths, model, progress, should_stop) if paths else IndexSummary()

    def forget(self, path: str | os.PathLike) -> tuple[int, int]:
        """Remove a folder (or one file) from the library; the photos themselves are untouched."""
        with self.store.writer_lock():
            return self.store.files.forget(path)

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
        pipeline: str = "fused",
        verify: int = VERIFY_TOP,
    ) -> SearchResult:
        """Rank library photos by similarity to ``query`` (a path, bytes or PIL image).

        ``pipeline``: ``fused`` (default: local and global similarity, the best ``verify``
        checked geometrically, verified matches first), ``local`` or ``global`` (the network
        alone; ``rerank=K`` verifies its top K).
        """
        from engine.library.query.search import query_name, rank, timer

        clock = timer()
        next(clock)
        ex, row = self.model(model)
        book = self.codebook()
        gw = GLOBAL_WEIGHT if learned_from_photos(ex.model) else 0.0
        q = self.query(query, box, model)
        t_extract = next(clock)
        vi = self.vector_index(row) if pipeline != "local" else None
        li = self.local_index(book)
        t_index = next(clock)
        self_id = self._query_file_id(query, box) if exclude_self else None
        ids = (
            None if folder is None else np.array(self.store.files.file_ids_under(folder), np.int64)
        )
        top = max(rerank, verify) if pipeline != "global" else rerank
        hits, matches = rank(q, self.store, book, li, vi, row, pipeline, ids, self_id, top, k, gw)
        t_search = next(clock)
        out = q.extraction
        return SearchResult(
            query=query_name(query),
            box=out.box,
            hits=hits,
            descriptor=out.descriptor,
            attention=out.attention,
            input_size=out.input_size,
            original_size=out.original_size,
            model=row.spec,
            index_kind=vi.kind if vi is not None else "local",
            seconds=t_extract + t_index + t_search,
            excluded_self=self_id is not None,
            timings={"extract": t_extract, "index": t_index, "search": t_search},
            pipeline=pipeline,
            matches=matches,
            global_weight=gw if pipeline == "fused" else float(pipeline == "global"),
        )

    def query(self, query: PhotoSource, box: Box | None = None, model: str | None = None) -> Query:
        """The decoded query (network output and local features), cached for the last one, so
        outlines and evidence after a search do not decode it again."""
        if isinstance(query, (str, os.PathLike)):
            try:
                st = os.stat(query)
                key = (os.fspath(query), st.st_mtime_ns, st.st_size, box, model)
            except OSError:
                key = None  # let the decoder report the problem
        else:
            key = None  # bytes and images are decoded every time

        with self._lock:
            if key is not None and self._last_query is not None and self._last_query[0] == key:
                return self._last_query[1]
        from engine.library.query.search import describe_query

        ex, _ = self.model(model)
        q = describe_query(query, box, ex, self.codebook(), self.max_features)
        with self._lock:
            self._last_query = (key, q)
        return q

    def evidence(
        self, query: PhotoSource, file_id: int, box: Box | None = None, model: str | None = None
    ) -> Verification:
        """The geometric check of ``query`` against one library photo: inliers, transform,
        and the inlier correspondences (``q_xy``, ``p_xy``) to draw."""
        from engine.library.query.outlines import evidence

        row = self.store.files.files_by_ids([file_id]).get(file_id)
        if row is None:
            return Verification.none()
        return evidence(self.query(query, box, model), self.store, self.codebook().fingerprint, row)

    def locate(
        self,
        query: PhotoSource,
        file_ids: list[int],
        box: Box | None = None,
        point: tuple[float, float] | None = None,
        model: str | None = None,
        seed_fallback: bool = True,
        should_stop: StopFn | None = None,
    ) -> list[Location]:
        """Outline the query's region (or the object under ``point``) in each photo: by the
        verified geometry, else by the network's patch features when confident, else "not
        found in this photo"."""
        from engine.library.query.outlines import locate_in

        q = self.query(query, box, model)
        loc = None
        if seed_fallback:
            from engine.network.seed import Localizer

            loc = Localizer(self.model(model)[0])
        rows = self.store.files.files_by_ids(file_ids)
        out = []
        for fid in file_ids:
            if should_stop is not None and should_stop():
                break
            if fid in rows:
                out.append(
                    locate_in(
                        q, self.store, self.codebook().fingerprint, rows[fid], point, loc, query
                    )
                )
        return out

    def _query_file_id(self, query: PhotoSource, box: Box | None) -> int | None:
        """The library's id for a query photo that is itself in the library: a region of a
        photo does not find its own photo either."""
        if not isinstance(query, (str, os.PathLike)):
            return None
        r = self.store.files.file_by_path(query)
        return r.id if r else None

    def duplicates(
        self, threshold: float | None = None, model: str | None = None, should_stop=None
    ) -> list[DuplicateGroup]:
        """Groups of near-duplicate photos, each pair verified geometrically (see
        ``duplicates.py``); ``threshold`` is the inliers' least share of the features."""
        book = self.codebook()
        ratio = MIN_RATIO if threshold is None else float(threshold)
        return find_duplicates(
            self.store, self.local_index(book), book.fingerprint, ratio, should_stop
        )

    def errors(self) -> list[FileRow]:
        return self.store.files.failed_files()

    def status(self) -> dict:
        try:
            book = self.codebook().fingerprint
        except CodebookError:
            book = None
        return library_status(self.store, self.dir, self.index_dir, book)
