"""Incremental, crash-safe indexing of photo folders.

1. **Scan** each folder (stat only) and reconcile with the store: unchanged files (same size
   and mtime) are skipped without decoding; changed files lose their vectors and wait for
   extraction; a new path whose content hash matches a vanished file is a move and keeps its
   row, id and vectors; vanished files leave (their vectors go with them).
2. **Extract** every file that has no vector for the model yet, decoding on worker threads
   ahead of inference, and commit small batches: a kill loses at most the batch in flight,
   and the next run resumes with what is still pending.
3. **Refresh** the FAISS index from SQLite and save it atomically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from sqlalchemy import delete, insert, update

from ..errors import BadImageError
from ..extract import Extraction, Extractor
from .scan import Entry, WalkProblem, quick_hash, walk
from .store import FAILED, NEW, OK, FileRow, ModelRow, Store, files_t, fs_text, vectors_t

ProgressFn = Callable[[int, int, str], None]
StopFn = Callable[[], bool]

#: rows per scan transaction, photos per extraction commit
SCAN_CHUNK = 5000
COMMIT_EVERY = 16
COMMIT_SECONDS = 2.0


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

    def to_dict(self) -> dict:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 3)
        return d


def _fmt_eta(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Indexer:
    def __init__(
        self,
        store: Store,
        extractor: Extractor,
        model: ModelRow,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
        exclude: tuple[bytes, ...] = (),
    ) -> None:
        self.exclude = exclude
        self.store = store
        self.extractor = extractor
        self.model = model
        self.progress = progress or (lambda done, total, msg: None)
        self.should_stop = should_stop or (lambda: False)

    # ----------------------------------------------------------------- scan

    def scan(self, folders: list[tuple[int, bytes]], summary: IndexSummary) -> None:
        existing: dict[bytes, FileRow] = {}
        for fid, _ in folders:
            existing.update(self.store.files_in_folder(fid))
        found: dict[bytes, tuple[int, Entry]] = {}
        problems: list[WalkProblem] = []
        n = 0
        for fid, root in folders:
            for entry in walk(root, problems, self.exclude):
                found[entry.path] = (fid, entry)
                n += 1
                if n % 2000 == 0:
                    self.progress(n, 0, f"scanning: {n} photos found")
                    if self.should_stop():
                        summary.cancelled = True
                        return
        summary.problems.extend(f"{fs_text(p.path)}: {p.reason}" for p in problems)

        now = time.time()
        unchanged, changed, new = 0, [], []
        for path, (fid, e) in found.items():
            row = existing.get(path)
            if row is None:
                new.append((fid, e))
            elif row.size == e.size and row.mtime_ns == e.mtime_ns and e.error is None:
                unchanged += 1
            else:
                changed.append((row, fid, e))
        vanished = {p: r for p, r in existing.items() if p not in found}
        summary.skipped_unchanged = unchanged  # corrected below for pending ones

        # moves: a new path with the content of a vanished file keeps that file's row
        by_hash: dict[tuple[str, int], list[FileRow]] = {}
        for r in vanished.values():
            if r.content_hash:
                by_hash.setdefault((r.content_hash, r.size), []).append(r)
        hashed_new = []
        for fid, e in new:
            h = None if e.error else quick_hash(e.path, e.size)
            hashed_new.append((fid, e, h))

        ops: list[Callable] = []
        for fid, e, h in hashed_new:
            cands = by_hash.get((h, e.size)) if h else None
            if cands:
                r = cands.pop()
                del vanished[r.path]
                summary.moved += 1
                ops.append(
                    lambda c, r=r, fid=fid, e=e: c.execute(
                        update(files_t)
                        .where(files_t.c.id == r.id)
                        .values(path=e.path, folder_id=fid, mtime_ns=e.mtime_ns, updated_at=now)
                    )
                )
            else:
                status, err = (FAILED, e.error) if e.error else (NEW, None)
                ops.append(
                    lambda c, fid=fid, e=e, h=h, status=status, err=err: c.execute(
                        insert(files_t).values(
                            folder_id=fid,
                            path=e.path,
                            size=e.size,
                            mtime_ns=e.mtime_ns,
                            content_hash=h,
                            status=status,
                            error=err,
                            updated_at=now,
                        )
                    )
                )
                if e.error:
                    summary.failed += 1
        for row, fid, e in changed:
            h = None if e.error else quick_hash(e.path, e.size)
            status, err = (FAILED, e.error) if e.error else (NEW, None)
            if e.error:
                summary.failed += 1

            def op(c, row=row, fid=fid, e=e, h=h, status=status, err=err):
                c.execute(delete(vectors_t).where(vectors_t.c.file_id == row.id))
                c.execute(
                    update(files_t)
                    .where(files_t.c.id == row.id)
                    .values(
                        folder_id=fid,
                        size=e.size,
                        mtime_ns=e.mtime_ns,
                        content_hash=h,
                        status=status,
                        error=err,
                        width=None,
                        height=None,
                        updated_at=now,
                    )
                )

            ops.append(op)
        for r in vanished.values():
            summary.removed += 1
            ops.append(lambda c, r=r: c.execute(delete(files_t).where(files_t.c.id == r.id)))

        touched_vectors = bool(changed or vanished)
        for start in range(0, len(ops), SCAN_CHUNK):
            with self.store.begin() as c:
                for op in ops[start : start + SCAN_CHUNK]:
                    op(c)
                if touched_vectors:
                    Store._bump_all(c)
        for fid, _ in folders:
            self.store.mark_scanned(fid)

    # ----------------------------------------------------------------- extract

    def extract_pending(self, folder_ids: list[int], summary: IndexSummary) -> None:
        pending = self.store.pending_for_model(self.model.id, folder_ids)
        # unchanged files still waiting for this model are work, not skips
        summary.skipped_unchanged = max(
            0, summary.skipped_unchanged - sum(1 for r in pending if r.status == OK)
        )
        total = len(pending)
        if not total:
            return
        t0 = time.perf_counter()
        done = 0
        batch: list[tuple[FileRow, Extraction | BadImageError]] = []
        last_commit = time.perf_counter()
        for i, out in self.extractor.extract(
            [os.fsdecode(r.path) for r in pending],
            should_stop=self.should_stop,
        ):
            batch.append((pending[i], out))
            done += 1
            if len(batch) >= COMMIT_EVERY or time.perf_counter() - last_commit > COMMIT_SECONDS:
                self._commit(batch, summary)
                batch = []
                last_commit = time.perf_counter()
            elapsed = time.perf_counter() - t0
            rate = done / max(elapsed, 1e-9)
            self.progress(
                done,
                total,
                f"indexing: {rate:.1f} photos/s, ETA {_fmt_eta((total - done) / max(rate, 1e-9))}",
            )
        if batch:
            self._commit(batch, summary)
        if done < total:
            summary.cancelled = True

    def _commit(self, batch, summary: IndexSummary) -> None:
        now = time.time()
        with self.store.begin() as c:
            generation = Store._bump(c, self.model.id)
            for row, out in batch:
                if isinstance(out, BadImageError):
                    c.execute(
                        update(files_t)
                        .where(files_t.c.id == row.id)
                        .values(status=FAILED, error=str(out), updated_at=now)
                    )
                    summary.failed += 1
                    continue
                vec = np.ascontiguousarray(out.descriptor, dtype=np.float32)
                c.execute(
                    insert(vectors_t)
                    .prefix_with("OR REPLACE")
                    .values(
                        file_id=row.id,
                        model_id=self.model.id,
                        vector=vec.tobytes(),
                        generation=generation,
                    )
                )
                c.execute(
                    update(files_t)
                    .where(files_t.c.id == row.id)
                    .values(
                        status=OK,
                        error=None,
                        width=out.original_size[0],
                        height=out.original_size[1],
                        updated_at=now,
                    )
                )
                summary.indexed += 1
