"""Learning a codebook from a library's own photos, then re-encoding the library with it."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import ConfigError
from engine.library.index.indexer import Indexer, IndexSummary, LocalSetup, ProgressFn, StopFn
from engine.match.codebook import Codebook
from engine.match.learn import learn_codebook
from engine.match.workers import LocalWorkers

if TYPE_CHECKING:
    from engine.library.library import Library

#: a library smaller than this keeps the shipped codebook
MIN_PHOTOS_TO_LEARN = 200


def learn_library_codebook(
    lib: Library,
    words: int | None = None,
    max_photos: int = 2000,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> IndexSummary:
    """Learn a codebook from the library's photos (k-means over RootSIFT of up to
    ``max_photos`` of them), keep it in SQLite, re-encode every photo with it and make it the
    library's codebook.

    The photos are read again: a library keeps codes, not the 128-byte descriptors, which
    would be about six times its local data. Searches use the previous codebook until
    re-encoding is complete; a cancelled run keeps the previous codebook.
    """
    lib.store.writer_lock()  # a read-only library is refused before the long work
    rows = [r for r in lib.store.files.ok_files() if os.path.exists(r.path)]
    if len(rows) < MIN_PHOTOS_TO_LEARN:
        raise ConfigError(
            f"the library has {len(rows)} photos; learning a codebook needs "
            f"{MIN_PHOTOS_TO_LEARN} or more (the shipped codebook is used until then)"
        )
    rng = np.random.default_rng(0)
    pick = sorted(rng.choice(len(rows), min(max_photos, len(rows)), replace=False))
    paths = [os.fsdecode(rows[i].path) for i in pick]
    words = words or int(min(16384, max(1024, 2 ** round(np.log2(len(paths) * 8)))))
    book = learn_codebook(paths, words, progress=progress, should_stop=should_stop)
    summary = _encode_with(lib, book, progress, should_stop)
    if not summary.cancelled:
        lib.store.codes.set_active_codebook(book.fingerprint)
    return summary


def _encode_with(lib: Library, book: Codebook, progress, should_stop) -> IndexSummary:
    t0 = time.perf_counter()
    summary = IndexSummary()
    with lib.store.writer_lock():
        lib.store.codes.ensure_codebook(book.fingerprint, book.size, book.meta, book.centroids)
        row = lib.model_row()  # the network loads only for a photo that lacks its vector
        with LocalWorkers(book, max_features=lib.max_features) as workers:
            local = LocalSetup(book, lambda: workers)  # every photo is re-encoded
            load = lambda: lib.model()[0]  # noqa: E731
            indexer = Indexer(lib.store, load, row, progress, should_stop, local=local)
            indexer.extract_pending([fid for fid, _ in lib.store.files.folders()], summary)
        lib.local_index(book)
    summary.seconds = time.perf_counter() - t0
    return summary
