"""``Library.index``: add folders, scan them and index what changed, loading the network and
starting the worker processes only when a photo needs them (an unchanged library is
checked in well under a second, without torch)."""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING

from engine.atomic import remove_leftover_temporaries
from engine.errors import ConfigError
from engine.library.index.indexer import Indexer, IndexSummary, LocalSetup, ProgressFn, StopFn
from engine.library.store import fs_bytes
from engine.match.workers import LocalWorkers

if TYPE_CHECKING:
    from engine.library.library import Library


def index_folders(
    lib: Library,
    paths: list[str | os.PathLike],
    model: str | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    exclude: list[str | os.PathLike] | None = None,
    local: bool = True,
) -> IndexSummary:
    """See ``Library.index``."""
    t0 = time.perf_counter()
    for p in paths:
        if not os.path.isdir(p):
            what = "does not exist" if not os.path.exists(p) else "is not a folder"
            raise ConfigError(f"{p}: {what}")
    with lib.store.writer_lock():
        remove_leftover_temporaries(lib.index_dir)  # a killed save's, if any
        row = lib.model_row(model)  # the network itself loads only if there is work
        summary = IndexSummary()
        folders = []
        for p in paths:
            fid, fp, notes = lib.store.files.add_folder(p)
            summary.problems.extend(notes)
            if (fid, fp) not in folders:
                folders.append((fid, fp))
        # a folder absorbed by a parent added in the same call is gone: use the survivors
        alive = {fid for fid, _ in lib.store.files.folders()}
        folders = [(fid, fp) for fid, fp in folders if fid in alive]
        skip = tuple(fs_bytes(x) for x in exclude or ())
        book = lib.codebook()
        with contextlib.ExitStack() as stack:
            setup = None
            if local:
                setup = LocalSetup(
                    book,
                    lambda: stack.enter_context(LocalWorkers(book, max_features=lib.max_features)),
                )
            load = lambda: lib.model(model)[0]  # noqa: E731
            indexer = Indexer(lib.store, load, row, progress, should_stop, skip, setup)
            indexer.scan(folders, summary)
            if not summary.cancelled:
                indexer.extract_pending([fid for fid, _ in folders], summary)
        if local and not summary.cancelled:  # every photo has this codebook's codes
            lib.store.codes.drop_other_codebooks(book.fingerprint)
            for f in lib.index_dir.glob("local-*"):
                if book.fingerprint not in f.name:
                    f.unlink(missing_ok=True)
        lib.vector_index(row)  # refresh and save the FAISS cache
        lib.local_index(book)  # and the inverted file
    summary.seconds = time.perf_counter() - t0
    return summary
