"""The caches a library keeps beside its database, each rebuilt from it when needed: the vector
index of each model's vectors (FAISS, or NumPy without it), the codebook local codes are made
with, and the inverted file of that codebook's codes."""

from __future__ import annotations

import threading
from pathlib import Path

from engine.library.index.inverted import LocalIndex
from engine.library.index.vector_index import APPROX_THRESHOLD, VectorIndex
from engine.library.store import ModelRow, Store
from engine.match.codebook import Codebook, default_codebook


class Caches:
    """Derived caches of one store (thread-safe); each is checked against the store's
    generations on every call and caught up or rebuilt when it moved on."""

    def __init__(
        self,
        store: Store,
        directory: Path,
        index_kind: str = "auto",
        approx_threshold: int = APPROX_THRESHOLD,
    ) -> None:
        self.store = store
        self.dir = directory
        self.index_kind = index_kind
        self.approx_threshold = approx_threshold
        self._vectors: dict[str, VectorIndex] = {}
        self._codebook: Codebook | None = None
        self._local: LocalIndex | None = None
        self._lock = threading.RLock()

    def configure(self, index_kind: str | None = None) -> None:
        """Use another index type from now on (the vector indexes are made again)."""
        with self._lock:
            if index_kind is not None:
                self.index_kind = index_kind
            self._vectors.clear()

    def vectors(self, row: ModelRow) -> VectorIndex:
        """The vector index of ``row``'s vectors, rebuilt if the store has moved on."""
        with self._lock:
            cached = self._vectors.get(row.fingerprint)
            if cached is not None and cached.generation == self.store.models.generation(row.id):
                return cached
            vi = VectorIndex.open(self.store, row, self.dir, self.index_kind, self.approx_threshold)
            self._vectors[row.fingerprint] = vi
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

    def forget_codebook(self) -> None:
        """The active codebook changed: read it again on next use."""
        with self._lock:
            self._codebook = None

    def local(self, book: Codebook | None = None, progress=None) -> LocalIndex:
        """The inverted file of the codebook's codes, caught up or rebuilt from SQLite
        (``progress`` hears how a rebuild goes)."""
        book = book or self.codebook()
        with self._lock:
            li = self._local
            gen = self.store.codes.local_generation(book.fingerprint)
            if li is not None and li.codebook == book.fingerprint and li.generation == gen:
                return li
            self._local = LocalIndex.open(
                self.store, book.fingerprint, book.size, self.dir, progress=progress
            )
            return self._local
