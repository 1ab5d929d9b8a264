"""A photo library: folders indexed into SQLite (source of truth) plus caches beside it.

``Library(dir)`` is what the CLI and the GUI use::

    with Library("~/my-library") as lib:
        summary = lib.index(["~/Pictures"], model="default", progress=..., should_stop=...)
        result = lib.search("query.jpg", box=(10, 10, 200, 200), k=20)
        outlines = lib.locate("query.jpg", [h.file_id for h in result.hits], point=(320, 240))
        groups = lib.duplicates()

It is made of parts: ``store`` (the database), ``networks`` (extractors per model),
``caches`` (FAISS indexes, the codebook, the inverted file) and the last query's session, whose
evidence every later call about that query reads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import numpy as np

from engine.library.index.caches import Caches
from engine.library.index.changes import Changes, library_changes
from engine.library.index.folders import FolderIndexing
from engine.library.index.indexer import IndexSummary
from engine.library.index.inverted import LocalIndex
from engine.library.index.vector_index import APPROX_THRESHOLD, VectorIndex
from engine.library.networks import Networks
from engine.library.query.duplicates import MIN_RATIO, DuplicateGroup, find_duplicates
from engine.library.query.outlines import Outlines
from engine.library.query.results import SearchResult
from engine.library.query.session import Evidence, Query, QuerySession
from engine.library.status import library_status
from engine.library.store import FileRow, ModelRow, Store, fs_text
from engine.library.store.lock import ensure_not_busy
from engine.match.codebook import Codebook, CodebookError
from engine.match.describe import DEFAULT, DescribeSettings
from engine.match.localize import Location
from engine.match.rank import GLOBAL_WEIGHT, VERIFY_TOP, learned_from_photos
from engine.match.verify import Verification
from engine.paths import default_library_dir
from engine.photo.decode import Box, PhotoSource
from engine.tasks import ProgressFn, StopFn, stage, with_rate

__all__ = ["Library", "ensure_not_busy"]


class Library:
    def __init__(
        self,
        directory: str | os.PathLike | None = None,
        device: str = "auto",
        index_kind: str = "auto",
        approx_threshold: int = APPROX_THRESHOLD,
        max_features: int | None = None,
        mode: str = "create",
        precision: str = "auto",
    ) -> None:
        """``max_features``: the strongest RootSIFT features kept per photo (and query);
        ``mode``: ``create`` (made if missing), ``write`` (must exist) or ``read`` (must
        exist; nothing is written to its database). One that cannot be written searches.
        ``device`` and ``precision`` run the network (``engine.network.runtime``)."""
        self.dir = Path(directory).expanduser() if directory else default_library_dir()
        self.settings: DescribeSettings = DEFAULT.with_features(max_features)
        self.store = Store(self.dir, mode)
        self.index_dir = self.dir / "index"
        self.networks = Networks(self.store, self.index_dir, device, precision)
        self.caches = Caches(self.store, self.index_dir, index_kind, approx_threshold)
        self._lock = threading.RLock()
        self._session: QuerySession | None = None

    @property
    def read_only(self) -> bool:
        """Whether this library can only be searched (see ``store.read_only_reason``)."""
        return self.store.read_only

    @property
    def max_features(self) -> int:
        return self.settings.max_features

    @property
    def device(self) -> str:
        return self.networks.device

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- models and caches

    def configure(self, device: str | None = None, index_kind: str | None = None) -> None:
        """Use another device or index type from now on; loaded models and indexes are
        dropped, so the next call loads them afresh."""
        self.networks.configure(device=device)
        self.caches.configure(index_kind=index_kind)
        with self._lock:
            self._session = None

    def current_model_spec(self) -> str:
        """The model most recently used to index this library (``default`` for a new one)."""
        return self.networks.current_spec()

    def model(self, spec: str | None = None):
        """The extractor and store row of a model (cached per spec)."""
        return self.networks.load(spec)

    def model_row(self, spec: str | None = None) -> ModelRow:
        """The store row of a model, without loading it where its files were seen before."""
        return self.networks.row(spec)

    def vector_index(self, row: ModelRow) -> VectorIndex:
        return self.caches.vectors(row)

    def codebook(self) -> Codebook:
        return self.caches.codebook()

    def local_index(self, book: Codebook | None = None, progress=None) -> LocalIndex:
        return self.caches.local(book, progress)

    # ----------------------------------------------------------------- writing

    def _indexing(self) -> FolderIndexing:
        return FolderIndexing(self.store, self.networks, self.caches, self.settings)

    def index(
        self,
        paths: list[str | os.PathLike],
        model: str | None = None,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
        exclude: list[str | os.PathLike] | None = None,
        local: bool = True,
        vectors: bool | None = None,
        follow_links: bool | None = None,
        retry_failed: bool = True,
    ) -> IndexSummary:
        """Add ``paths`` (folders) if new, scan them and index what changed.

        Symbolic links are followed only where they lead inside an indexed folder, unless
        ``follow_links`` is on for the folder (kept with it: None leaves it as it was).

        ``local=False`` skips the local features (for measuring the network alone; searches
        then find no verified match for the photos indexed so). ``vectors``: whether the
        network describes every photo too; by default only when ranking uses its vectors (a
        model that learned from photos: ``Networks.needs_vectors``). ``vectors=True`` fills
        the vectors a photo lacks (resumable, like all indexing).

        Photos that failed before are tried again (a permission granted since, a file renamed
        back) unless ``retry_failed`` is off (``index --watch`` after its first pass).

        Photos under ``exclude`` folders are left out (and leave the library if they were in).
        One writer at a time: a second process gets ``LibraryBusyError`` at once.
        """
        return self._indexing().index_folders(
            paths, model, progress, should_stop, exclude, local, vectors, follow_links, retry_failed
        )

    def learn_codebook(
        self,
        words: int | None = None,
        max_photos: int = 2000,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> IndexSummary:
        """Learn a codebook from this library and re-encode every photo with it (see
        ``FolderIndexing.learn_codebook``)."""
        return self._indexing().learn_codebook(words, max_photos, progress, should_stop)

    def rescan(
        self,
        model: str | None = None,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> IndexSummary:
        """Re-scan every registered folder that still exists."""
        paths = [fs_text(p) for _, p in self.store.files.folders() if os.path.isdir(p)]
        return self.index(paths, model, progress, should_stop) if paths else IndexSummary()

    def changes(
        self,
        exclude: list[str | os.PathLike] | None = None,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> Changes | None:
        """What changed on disk in the registered folders that still exist since they were
        indexed: new, changed, moved and deleted photos (``index.changes``); nothing is
        written. None when stopped. ``rescan`` brings the library up to date."""
        return library_changes(self.store, exclude, progress, should_stop)

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
        alone; ``rerank=K`` verifies its top K). Photos this query was already checked against
        (an earlier page of the same search) are not checked again.
        """
        from engine.library.query.search import (
            SearchRequest,
            folder_in_library,
            own_file_id,
            query_name,
            rank,
            timer,
            too_little_detail,
        )

        folder = None if folder is None else folder_in_library(self.store, folder)
        clock = timer()
        next(clock)
        ex, row = self.model(model)
        session = self.session(query, box, model)
        t_extract = next(clock)
        vi = self.vector_index(row) if pipeline != "local" else None
        li = self.local_index()
        t_index = next(clock)
        request = SearchRequest(
            pipeline=pipeline,
            k=k,
            verify_top=max(rerank, verify) if pipeline != "global" else rerank,
            allowed_ids=None
            if folder is None
            else np.array(self.store.files.file_ids_under(folder), np.int64),
            exclude_id=own_file_id(self.store, query) if exclude_self else None,
            global_weight=GLOBAL_WEIGHT if learned_from_photos(ex.model) else 0.0,
        )
        q = session.query
        featureless = too_little_detail(q, pipeline)
        hits, matches = ([], 0) if featureless else rank(q, request, session.evidence, li, vi)
        uses_vectors = pipeline == "global" or (pipeline == "fused" and request.global_weight > 0)
        missing = self.store.vectors.count_missing(row.id) if uses_vectors else 0
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
            excluded_self=request.exclude_id is not None,
            timings={"extract": t_extract, "index": t_index, "search": t_search},
            pipeline=pipeline,
            matches=matches,
            missing_vectors=missing,
            global_weight=request.global_weight
            if pipeline == "fused"
            else float(pipeline == "global"),
            too_little_detail=featureless,
        )

    def attention_overlay(
        self, src: PhotoSource, model: str | None = None, max_side: int = 320
    ) -> np.ndarray:
        """``(H, W, 4) uint8``: where the network looked in a photo, as a colour overlay at most
        ``max_side`` px on its long side. Raises ``BadImageError``."""
        from engine.network.attention import explain

        return explain(self.model(model)[0], src, opacity=1.0, max_side=max_side).rgba

    def _query_key(self, query: PhotoSource, box: Box | None, model: str | None) -> tuple | None:
        """What identifies a query's session: the file's path, mtime and size (bytes and
        images are described every time), the box, the model, and the codebook with its
        generation (a re-indexed library checks again)."""
        if not isinstance(query, (str, os.PathLike)):
            return None
        try:
            st = os.stat(query)
        except OSError:
            return None  # let the decoder report the problem
        book = self.codebook().fingerprint
        generation = self.store.codes.local_generation(book)
        spec = self.networks.spec(model)
        return (os.fspath(query), st.st_mtime_ns, st.st_size, box, spec, book, generation)

    def session(
        self, query: PhotoSource, box: Box | None = None, model: str | None = None
    ) -> QuerySession:
        """The query described once, with the evidence of every check made against it; the
        last one is kept, so outlines, heatmaps and the next page do not decode or verify
        again."""
        from engine.library.query.session import describe_query

        key = self._query_key(query, box, model)
        with self._lock:
            s = self._session
            if key is not None and s is not None and s.key == key:
                return s
        ex, _ = self.model(model)
        book = self.codebook()
        q = describe_query(query, box, ex, book, self.settings)
        s = QuerySession(key, q, Evidence(q, self.store, book.fingerprint))
        with self._lock:
            self._session = s
        return s

    def query(self, query: PhotoSource, box: Box | None = None, model: str | None = None) -> Query:
        """The decoded query (network output and local features) of the current session."""
        return self.session(query, box, model).query

    def evidence(
        self, query: PhotoSource, file_id: int, box: Box | None = None, model: str | None = None
    ) -> Verification:
        """The geometric check of ``query`` against one library photo: inliers, transform,
        and the inlier correspondences (``q_xy``, ``p_xy``) to draw. Made once per query."""
        return self.session(query, box, model).evidence.of([file_id])[file_id]

    def locate(
        self,
        query: PhotoSource,
        file_ids: list[int],
        box: Box | None = None,
        point: tuple[float, float] | None = None,
        model: str | None = None,
        should_stop: StopFn | None = None,
        on_location: Callable[[Location], None] | None = None,
    ) -> list[Location]:
        """Outline the object under ``point`` (or the searched region: the drawn ``box``, else
        the whole query) in each photo where the geometry verifies it, else say "not found in
        this photo" and why (``engine.match.localize``). The clicked object is built once per
        click; stage 0 reads the session's evidence, stage 1 the stored codes, stage 2 the
        photo files. Asking again for the same click costs nothing. ``on_location`` hears each
        photo as it is decided, the outlines from stored data first. A click outside the photo
        or the drawn box is answered as every photo's reason."""
        s = self.session(query, box, model)
        return self._outlines.locate(
            query, s, self.codebook(), self.settings, file_ids, point, should_stop, on_location
        )

    @cached_property
    def _outlines(self) -> Outlines:
        """What ``locate`` keeps: targets of the latest clicks and photos described again."""
        return Outlines(self.store)

    def duplicates(
        self,
        threshold: float | None = None,
        model: str | None = None,
        should_stop=None,
        progress=None,
        similar: bool = False,
    ) -> list[DuplicateGroup]:
        """Groups of copies, each pair verified (``duplicates.py``); ``threshold``: the inliers'
        least share of the features; ``similar``: the groups of similar shots too."""
        book = self.codebook()
        ratio = MIN_RATIO if threshold is None else float(threshold)
        li = self.local_index(book, with_rate(stage(progress, 0, 0.05), "reading visual words"))
        return find_duplicates(
            self.store, li, book.fingerprint, ratio, should_stop, progress, similar
        )

    def errors(self) -> list[FileRow]:
        return self.store.files.failed_files()

    def status(self) -> dict:
        try:
            book = self.codebook().fingerprint
        except CodebookError:
            book = None
        from engine.network.loader import describe_runtime

        st = library_status(self.store, self.dir, self.index_dir, book)
        spec = self.networks.spec(None)
        st["network"] = {
            "model": spec,
            **describe_runtime(spec, self.networks.device, self.networks.precision),
        }
        return st
