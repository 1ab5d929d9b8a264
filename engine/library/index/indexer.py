"""Incremental, crash-safe indexing of photo folders.

1. **Scan** each folder (stat only) and reconcile with the store: unchanged files (same size
   and mtime) are skipped without decoding; changed files lose their vectors and wait for
   extraction; a new path whose content hash matches a vanished file is a move and keeps its
   row, id and vectors; vanished files leave (their vectors go with them).
2. **Extract** every file that has no local code for the codebook yet, or no vector for the
   model when ranking uses the model's vectors (``vectors``; otherwise the network does not run
   and a later run with ``vectors`` fills them): one decode per photo on worker processes
   (which also compute RootSIFT and its codes) ahead of inference, and commit small batches: a
   kill loses at most the batch in flight, and the next run resumes with what is still
   pending.
3. **Refresh** the FAISS index from SQLite and save it atomically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from engine.errors import BadImageError
from engine.library.index.changes import find_changes
from engine.library.index.scan import quick_hash
from engine.library.store import NEW, FileRow, FileState, ModelRow, Store
from engine.match.codebook import Codebook
from engine.match.describe import Described
from engine.match.workers import LocalWorkers
from engine.tasks import ProgressFn, Rate, StopFn

if TYPE_CHECKING:  # torch: loaded with the model, only when there is work
    from engine.network.extraction import Extraction
    from engine.network.extraction import ExtractorBase as Extractor


#: photos per extraction commit (or fewer, when COMMIT_SECONDS have passed)
COMMIT_EVERY = 16
COMMIT_SECONDS = 2.0
#: the longest a step goes without a progress message
REPORT_SECONDS = 0.5


class LocalSetup:
    """The codebook local codes are made with and the processes that make them (started by
    ``start`` on first use: a run with nothing to describe starts none)."""

    def __init__(self, codebook: Codebook, start: Callable[[], LocalWorkers]) -> None:
        self.codebook = codebook
        self._start = start
        self._workers: LocalWorkers | None = None

    @property
    def workers(self) -> LocalWorkers:
        if self._workers is None:
            self._workers = self._start()
        return self._workers


@dataclass
class IndexSummary:
    indexed: int = 0
    skipped_unchanged: int = 0
    moved: int = 0
    removed: int = 0
    failed: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    problems: list[str] = field(default_factory=list)
    #: folders asked for that were not there (the others were indexed)
    refused: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 3)
        return d


class Indexer:
    def __init__(
        self,
        store: Store,
        load_extractor: Callable[[], Extractor],
        model: ModelRow,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
        exclude: tuple[bytes, ...] = (),
        local: LocalSetup | None = None,
        vectors: bool = True,
        retry_failed: bool = True,
    ) -> None:
        self.exclude = exclude
        #: whether the scan tries the photos that failed before again (see ``Changes``)
        self.retry_failed = retry_failed
        self.vectors = vectors or local is None  # without local features, vectors are the work
        self.local = local
        self.store = store
        self._load_extractor = load_extractor
        self._extractor: Extractor | None = None
        self.model = model
        self.progress = progress or (lambda done, total, msg: None)
        self.should_stop = should_stop or (lambda: False)
        self.unchanged: set[int] = set()  # ids the scan found unchanged (counted as skipped)

    @property
    def extractor(self) -> Extractor:
        """The network, loaded by ``load_extractor`` on first use (never, when no photo needs
        a vector)."""
        if self._extractor is None:
            self._extractor = self._load_extractor()
        return self._extractor

    # ----------------------------------------------------------------- scan

    def scan(self, folders: list[tuple[int, bytes]], summary: IndexSummary) -> None:
        """Reconcile the store with the files under ``folders`` ``[(id, path)]``: what
        ``find_changes`` saw is written (moves keep their rows, ids and vectors)."""
        ch = find_changes(self.store, folders, self.exclude, self.progress, self.should_stop)
        if ch is None:
            summary.cancelled = True
            return
        summary.problems.extend(ch.problems)
        self.unchanged = ch.unchanged
        summary.skipped_unchanged = len(ch.unchanged)  # extract_pending takes out pending ones
        added = self._hashed(ch.new, "new", summary)
        if self.retry_failed:  # tried again: each is indexed or fails again
            ch.changed += ch.failed_before
        else:  # left as they are, and counted as failed, as `status` counts them
            summary.failed += len(ch.failed_before)
        changed = self._hashed([f for _, f in ch.changed], "changed", summary)
        self.store.files.move_files([(r.id, f) for r, f in ch.moved])
        self.store.files.add_files(added)
        self.store.files.reset_files(
            [(r.id, f) for (r, _), f in zip(ch.changed, changed, strict=True)]
        )
        self.store.files.remove_files([r.id for r in ch.deleted])
        summary.moved += len(ch.moved)
        summary.removed += len(ch.deleted)
        for fid, _ in folders:
            self.store.files.mark_scanned(fid)

    def _hashed(self, files: list[FileState], what: str, summary: IndexSummary) -> list[FileState]:
        """``files`` with their content hash (what recognises them when they move), read with a
        progress message at least every ``REPORT_SECONDS``; those that cannot be read count as
        failed."""
        out = []
        last = time.perf_counter()
        for i, f in enumerate(files):
            if time.perf_counter() - last > REPORT_SECONDS:
                self.progress(i, len(files), f"scanning: reading {i} of {len(files)} {what} photos")
                last = time.perf_counter()
            if f.error:
                summary.failed += 1
            elif f.content_hash is None:
                f = replace(f, content_hash=quick_hash(f.path, f.size))
            out.append(f)
        return out

    # ----------------------------------------------------------------- extract

    def extract_pending(self, folder_ids: list[int], summary: IndexSummary) -> None:
        """Decode every photo that lacks this model's vector or this codebook's local code
        once, on worker processes, and commit both in small batches."""
        pending = self.store.files.pending_for_model(self.model.id, folder_ids)
        if not self.vectors:  # only what was never indexed; vectors wait for a run that wants them
            pending = [r for r in pending if r.status == NEW]
        need_vec = {r.id for r in pending} if self.vectors else set()
        need_loc: set[int] = set()
        if self.local is not None:
            need_loc = set(
                self.store.codes.pending_local(self.local.codebook.fingerprint, folder_ids)
            )
            extra = need_loc - {r.id for r in pending}
            rows = self.store.files.files_by_ids(extra)
            pending = sorted([*pending, *rows.values()], key=lambda r: r.path)
        # unchanged files still waiting (a killed run's, or a new model's) are work, not skips:
        # indexed + unchanged + failed then adds up to the photos found
        summary.skipped_unchanged -= sum(1 for r in pending if r.id in self.unchanged)
        total = len(pending)
        if not total:
            return
        self.progress(0, total, f"indexing: {total} photos to describe, starting")
        rate = Rate()
        done = 0
        batch: list[tuple[FileRow, Extraction | BadImageError | None, Described | None]] = []
        last_commit = time.perf_counter()
        for row, out, desc in self._described(pending, need_vec, need_loc):
            batch.append((row, out, desc))
            done += 1
            if len(batch) >= COMMIT_EVERY or time.perf_counter() - last_commit > COMMIT_SECONDS:
                self._commit(batch, summary)
                batch = []
                last_commit = time.perf_counter()
            rate.update(done)
            self.progress(done, total, f"indexing: {rate.text(done, total)}")
        if batch:
            self._commit(batch, summary)
        if done < total:
            summary.cancelled = True

    def _described(self, pending: list[FileRow], need_vec: set[int], need_loc: set[int]):
        """Yield ``(row, Extraction | BadImageError | None, Described | None)`` in order:
        decoding (and SIFT) run ahead on the worker processes, the network on this thread in
        batches of ``extractor.batch_size``; the model loads only if a vector is missing."""
        if self.local is None:
            paths = [os.fsdecode(r.path) for r in pending]
            for i, out in self.extractor.extract(paths, should_stop=self.should_stop):
                yield pending[i], out, None
            return
        ex = self.extractor if need_vec else None
        batch = ex.batch_size if ex is not None else 1
        workers = self.local.workers
        ahead = 2 * workers.workers + batch

        def submit(r: FileRow):
            return workers.submit(
                os.fsdecode(r.path),
                image_size=ex.image_size if ex is not None and r.id in need_vec else None,
                local=r.id in need_loc,
            )

        futures = [submit(r) for r in pending[:ahead]]
        window: list[tuple[FileRow, Described | BadImageError]] = []
        for i, row in enumerate(pending):
            if self.should_stop():
                for f in futures:
                    f.cancel()
                break
            d = futures.pop(0).result()
            if i + ahead < len(pending):
                futures.append(submit(pending[i + ahead]))
            window.append((row, d))
            if len(window) >= batch:
                yield from self._run_network(ex, window)
                window = []
        yield from self._run_network(ex, window)

    @staticmethod
    def _run_network(ex: Extractor | None, window: list[tuple[FileRow, Described | BadImageError]]):
        """The network on the photos of ``window`` that need a vector, as one call (equal or
        bucketed shapes share a batch); yields the window in order."""
        wanted = [
            j
            for j, (_, d) in enumerate(window)
            if isinstance(d, Described) and d.pixels is not None
        ]
        outs: dict[int, Extraction] = {}
        if wanted and ex is not None:
            from engine.network.extraction import Prepared

            preps = []
            for j in wanted:
                row, d = window[j]
                preps.append(Prepared(d.pixels, d.original_size, None, os.fsdecode(row.path)))
            outs = dict(zip(wanted, ex.run(preps), strict=True))
        for j, (row, d) in enumerate(window):
            if isinstance(d, BadImageError):
                yield row, d, None
            else:
                yield row, outs.get(j), d

    def _commit(self, batch, summary: IndexSummary) -> None:
        # each ``out``: an Extraction, a BadImageError, or None (only local codes were made)
        extracted = [(row, out, d) for row, out, d in batch if _is_extraction(out)]
        done = [(row.id, out.descriptor, out.original_size) for row, out, _ in extracted]
        # described for its local features alone: indexed, its vector left for later
        local_only = [(row, d) for row, out, d in batch if out is None and d is not None]
        done += [(row.id, None, d.original_size) for row, d in local_only]
        failed = [(row.id, str(out)) for row, out, _ in batch if isinstance(out, BadImageError)]
        # what decoding noticed on a photo it indexed (damaged EXIF...), kept as its note
        noticed = [(row, d.notes if d is not None else out.notes) for row, out, d in extracted]
        noticed += [(row, d.notes) for row, d in local_only]
        notes = {row.id: "indexed; " + "; ".join(n) for row, n in noticed if n}
        self.store.vectors.record_extractions(self.model.id, done, failed, notes)
        if self.local is not None:
            codes = [
                (row.id, d.code, d.phash)
                for row, _, d in batch
                if d is not None and d.code is not None
            ]
            self.store.codes.record_local(self.local.codebook.fingerprint, codes)
        summary.indexed += sum(1 for _, out, d in batch if not isinstance(out, BadImageError))
        summary.failed += len(failed)


def _is_extraction(out) -> bool:
    return out is not None and not isinstance(out, BadImageError)
