"""Indexing a library: folders added, scanned and indexed where they changed (``Library.index``),
and every photo re-encoded with a codebook learned from the library (``Library.learn_codebook``).

The network loads and the worker processes start only when a photo needs them (an unchanged
library is checked in well under a second, without torch).
"""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np

from engine.atomic import remove_leftover_temporaries
from engine.errors import ConfigError
from engine.library.index.caches import Caches
from engine.library.index.indexer import Indexer, IndexSummary, LocalSetup
from engine.library.index.scan import Scope
from engine.library.networks import Networks
from engine.library.store import Store, fs_bytes
from engine.match.codebook import Codebook
from engine.match.describe import DescribeSettings
from engine.match.describers import open_describers
from engine.match.learn import learn_codebook
from engine.tasks import ProgressFn, StopFn

#: a library smaller than this keeps the shipped codebook
MIN_PHOTOS_TO_LEARN = 200


class FolderIndexing:
    """Indexing of a library's folders, over the parts it uses: the store, the networks, the
    caches and the settings photos are described with."""

    def __init__(
        self, store: Store, networks: Networks, caches: Caches, settings: DescribeSettings
    ) -> None:
        self.store, self.networks, self.caches, self.settings = store, networks, caches, settings

    def index_folders(
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
        """Add ``paths`` (folders) if new, scan them and index what changed (see
        ``Library.index``). ``follow_links``: whether these folders follow symbolic links that
        lead outside the indexed folders (None: as set before; off for a new folder)."""
        t0 = time.perf_counter()
        paths, refused = _present(paths)
        with self.store.writer_lock():
            remove_leftover_temporaries(self.caches.dir)  # a killed save's, if any
            row = self.networks.row(model)  # the network itself loads only if there is work
            if vectors is None:
                vectors = self.networks.needs_vectors(model)
            summary = IndexSummary(refused=[f"{r} (left out)" for r in refused])
            summary.problems.extend(summary.refused)
            folders = []
            for p in paths:
                fid, fp, notes = self.store.files.add_folder(p, follow_links)
                summary.problems.extend(notes)
                if (fid, fp) not in folders:
                    folders.append((fid, fp))
            # a folder absorbed by a parent added in the same call is gone: use the survivors
            alive = {fid for fid, _ in self.store.files.folders()}
            folders = [(fid, fp) for fid, fp in folders if fid in alive]
            skip = Scope(
                (fs_bytes(x) for x in exclude or ()),
                [fp for _, fp in self.store.files.folders()],
                self.store.files.following_links(),
            )
            book = self.caches.codebook()
            with contextlib.ExitStack() as stack:
                setup = None
                if local:
                    setup = LocalSetup(
                        book,
                        lambda: stack.enter_context(open_describers(book, self.settings)),
                    )
                load = lambda: self.networks.load(model)[0]  # noqa: E731
                indexer = Indexer(
                    self.store, load, row, progress, should_stop, skip, setup, vectors, retry_failed
                )
                indexer.scan(folders, summary)
                if not summary.cancelled:
                    indexer.extract_pending([fid for fid, _ in folders], summary)
            if local and not summary.cancelled:  # every photo has this codebook's codes
                self.store.codes.drop_other_codebooks(book.fingerprint)
                for f in self.caches.dir.glob("local-*"):
                    if book.fingerprint not in f.name:
                        f.unlink(missing_ok=True)
            if progress is not None:  # a large library takes seconds here: say so
                progress(0, 0, "saving the search index")
            self.caches.vectors(row)  # refresh and save the FAISS cache
            self.caches.local(book)  # and the inverted file
        summary.seconds = time.perf_counter() - t0
        return summary

    def learn_codebook(
        self,
        words: int | None = None,
        max_photos: int = 2000,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> IndexSummary:
        """Learn a codebook from the library's photos (k-means over RootSIFT of up to
        ``max_photos`` of them), keep it in SQLite, re-encode every photo with it and make it
        the library's codebook.

        The photos are read again: a library keeps codes, not the 128-byte descriptors, which
        would be about six times its local data. Searches use the previous codebook until
        re-encoding is complete; a cancelled run keeps the previous codebook.
        """
        self.store.writer_lock()  # a read-only library is refused before the long work
        rows = [r for r in self.store.files.ok_files() if os.path.exists(r.path)]
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
        summary = self._encode_with(book, progress, should_stop)
        if not summary.cancelled:
            self.store.codes.set_active_codebook(book.fingerprint)
        self.caches.forget_codebook()
        return summary

    def _encode_with(self, book: Codebook, progress, should_stop) -> IndexSummary:
        t0 = time.perf_counter()
        summary = IndexSummary()
        with self.store.writer_lock():
            codes = self.store.codes
            codes.ensure_codebook(book.fingerprint, book.size, book.meta, book.centroids)
            row = self.networks.row()  # the network loads only for a photo that lacks its vector
            with open_describers(book, self.settings) as workers:
                local = LocalSetup(book, lambda: workers)  # every photo is re-encoded
                load = lambda: self.networks.load()[0]  # noqa: E731
                indexer = Indexer(
                    self.store,
                    load,
                    row,
                    progress,
                    should_stop,
                    local=local,
                    vectors=self.networks.needs_vectors(),
                )
                indexer.extract_pending([fid for fid, _ in self.store.files.folders()], summary)
            self.caches.local(book)
        summary.seconds = time.perf_counter() - t0
        return summary


def _present(paths: list[str | os.PathLike]) -> tuple[list[str | os.PathLike], list[str]]:
    """The folders of ``paths`` that are there, and why each other one is left out; refused
    when none is (one folder that is not there does not stop the others)."""
    refused = []
    for p in paths:
        if not os.path.isdir(p):
            what = "does not exist" if not os.path.exists(p) else "is not a folder"
            refused.append(f"{os.fsdecode(p)}: {what}")
    if paths and len(refused) == len(paths):
        raise ConfigError("; ".join(refused))
    return [p for p in paths if os.path.isdir(p)], refused
