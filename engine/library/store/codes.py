"""Local-feature codes in the library database (``Store.codes``).

Per file and codebook, everything needed to rebuild the inverted file and to verify a match
without reading the photo again: ASMK* words and bits, each feature's word and keypoint, and a
perceptual hash for duplicates. Every write advances the codebook's generation and each row
records the generation that wrote it, so a saved inverted file catches up by delta.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from sqlalchemy import delete, func, insert, select, update

from engine.library.store.database import Database
from engine.library.store.schema import (
    FAILED,
    IDS_PER_QUERY,
    chunks,
    codebook_centroids_t,
    codebooks_t,
    files_t,
    local_codes_t,
    meta_t,
)
from engine.match.asmk import LocalCode


def _code(r) -> LocalCode:
    return LocalCode.from_bytes(r.words, r.bits, r.fwords, r.kp)


class CodeTable:
    """Codebooks and per-photo local-feature codes of a library database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------------- codebooks

    def ensure_codebook(
        self, fingerprint: str, words: int, meta: dict, centroids: np.ndarray | None = None
    ) -> None:
        """Register a codebook (``centroids`` kept for one learned from this library); a
        read-only library is left as it is."""
        if self.db.read_only:
            return
        with self.db.begin() as c:
            if c.execute(
                select(codebooks_t.c.fingerprint).where(codebooks_t.c.fingerprint == fingerprint)
            ).first():
                return
            c.execute(
                insert(codebooks_t).values(
                    fingerprint=fingerprint,
                    words=int(words),
                    generation=0,
                    meta=json.dumps(meta, sort_keys=True),
                    created_at=time.time(),
                )
            )
            if centroids is not None:
                blob = np.ascontiguousarray(centroids, np.float32).tobytes()
                c.execute(
                    insert(codebook_centroids_t).values(fingerprint=fingerprint, centroids=blob)
                )

    def active_codebook(self) -> str | None:
        """The fingerprint of the learned codebook in use, or None for the shipped one."""
        with self.db.connect() as c:
            return c.execute(
                select(meta_t.c.value).where(meta_t.c.key == "active_codebook")
            ).scalar_one_or_none()

    def set_active_codebook(self, fingerprint: str | None) -> None:
        with self.db.begin() as c:
            c.execute(delete(meta_t).where(meta_t.c.key == "active_codebook"))
            if fingerprint:
                c.execute(insert(meta_t).values(key="active_codebook", value=fingerprint))

    def drop_other_codebooks(self, keep: str) -> int:
        """Delete the codes (and rows) of every codebook but ``keep``; returns how many went.
        A learned codebook that is not in use goes too: learning again is cheap."""
        with self.db.begin() as c:
            c.execute(delete(local_codes_t).where(local_codes_t.c.codebook != keep))
            c.execute(
                delete(codebook_centroids_t).where(codebook_centroids_t.c.fingerprint != keep)
            )
            gone = c.execute(delete(codebooks_t).where(codebooks_t.c.fingerprint != keep))
            return int(gone.rowcount or 0)

    def codebooks(self) -> list[dict]:
        """Every codebook with codes here: fingerprint, words, learned, meta, codes, created."""
        with self.db.connect() as c:
            counts = dict(
                c.execute(
                    select(local_codes_t.c.codebook, func.count()).group_by(
                        local_codes_t.c.codebook
                    )
                ).all()
            )
            rows = c.execute(
                select(
                    codebooks_t.c.fingerprint,
                    codebooks_t.c.words,
                    select(codebook_centroids_t.c.fingerprint)
                    .where(codebook_centroids_t.c.fingerprint == codebooks_t.c.fingerprint)
                    .exists()
                    .label("learned"),
                    codebooks_t.c.meta,
                    codebooks_t.c.created_at,
                ).order_by(codebooks_t.c.created_at)
            ).all()
        return [
            {
                "fingerprint": r.fingerprint,
                "words": r.words,
                "learned": bool(r.learned),
                "meta": json.loads(r.meta),
                "codes": counts.get(r.fingerprint, 0),
                "created_at": r.created_at,
            }
            for r in rows
        ]

    def codebook_centroids(self, fingerprint: str) -> np.ndarray | None:
        """The centroids of a codebook learned from this library, ``(k, 128) float32``."""
        with self.db.connect() as c:
            blob = c.execute(
                select(codebook_centroids_t.c.centroids).where(
                    codebook_centroids_t.c.fingerprint == fingerprint
                )
            ).scalar_one_or_none()
        return None if blob is None else np.frombuffer(blob, np.float32).reshape(-1, 128).copy()

    def local_generation(self, fingerprint: str) -> int:
        with self.db.connect() as c:
            g = c.execute(
                select(codebooks_t.c.generation).where(codebooks_t.c.fingerprint == fingerprint)
            ).scalar_one_or_none()
        return int(g or 0)

    # ----------------------------------------------------------------- codes

    def pending_local(self, fingerprint: str, folder_ids: list[int] | None = None) -> list[int]:
        """Ids of files that are not failed and have no code of ``fingerprint`` yet."""
        has = select(local_codes_t.c.file_id).where(local_codes_t.c.codebook == fingerprint)
        q = select(files_t.c.id).where(files_t.c.status != FAILED, files_t.c.id.not_in(has))
        if folder_ids is not None:
            q = q.where(files_t.c.folder_id.in_(folder_ids))
        with self.db.connect() as c:
            return [int(i) for i in c.execute(q.order_by(files_t.c.path)).scalars()]

    def record_local(
        self, fingerprint: str, items: Sequence[tuple[int, LocalCode, int | None]]
    ) -> None:
        """In one transaction: store ``(file id, code, perceptual hash)`` under a new
        generation of the codebook."""
        if not items:
            return
        with self.db.begin() as c:
            c.execute(
                update(codebooks_t)
                .where(codebooks_t.c.fingerprint == fingerprint)
                .values(generation=codebooks_t.c.generation + 1)
            )
            generation = c.execute(
                select(codebooks_t.c.generation).where(codebooks_t.c.fingerprint == fingerprint)
            ).scalar_one()
            rows = []
            for fid, code, ph in items:
                words, bits, fwords, kp = code.to_bytes()
                rows.append(
                    {
                        "file_id": fid,
                        "codebook": fingerprint,
                        "generation": generation,
                        "features": len(code),
                        "words": words,
                        "bits": bits,
                        "fwords": fwords,
                        "kp": kp,
                        "phash": ph,
                    }
                )
            c.execute(insert(local_codes_t).prefix_with("OR REPLACE"), rows)

    def iter_local_codes(
        self, fingerprint: str, newer_than: int | None = None, chunk: int = 2048
    ) -> Iterator[tuple[int, LocalCode]]:
        """``(file id, code)`` of every photo (written after generation ``newer_than``)."""
        t = local_codes_t
        q = select(t.c.file_id, t.c.words, t.c.bits, t.c.fwords, t.c.kp).where(
            t.c.codebook == fingerprint
        )
        if newer_than is not None:
            q = q.where(t.c.generation > newer_than)
        last = -1
        while True:
            with self.db.connect() as c:
                rows = c.execute(
                    q.where(t.c.file_id > last).order_by(t.c.file_id).limit(chunk)
                ).all()
            if not rows:
                return
            for r in rows:
                yield int(r.file_id), _code(r)
            last = int(rows[-1].file_id)

    def local_codes_for(self, fingerprint: str, file_ids: Iterable[int]) -> dict[int, LocalCode]:
        t = local_codes_t
        out: dict[int, LocalCode] = {}
        with self.db.connect() as c:
            for part in chunks(list(file_ids), IDS_PER_QUERY):
                q = select(t.c.file_id, t.c.words, t.c.bits, t.c.fwords, t.c.kp).where(
                    t.c.codebook == fingerprint, t.c.file_id.in_(part)
                )
                out.update((int(r.file_id), _code(r)) for r in c.execute(q))
        return out

    def local_ids(self, fingerprint: str) -> np.ndarray:
        with self.db.connect() as c:
            ids = c.execute(
                select(local_codes_t.c.file_id).where(local_codes_t.c.codebook == fingerprint)
            ).scalars()
            return np.fromiter(ids, dtype=np.int64)

    def phashes(self, fingerprint: str) -> tuple[np.ndarray, np.ndarray]:
        """``ids (n,) int64`` and their 64-bit perceptual hashes ``(n,) int64``."""
        t = local_codes_t
        with self.db.connect() as c:
            rows = c.execute(
                select(t.c.file_id, t.c.phash).where(
                    t.c.codebook == fingerprint, t.c.phash.is_not(None)
                )
            ).all()
        ids = np.array([r.file_id for r in rows], np.int64)
        return ids, np.array([r.phash for r in rows], np.int64)

    def local_bytes(self, fingerprint: str) -> tuple[int, int]:
        """``(photos, bytes)`` of the local codes of ``fingerprint``."""
        t = local_codes_t
        size = (
            func.length(t.c.words)
            + func.length(t.c.bits)
            + func.length(t.c.fwords)
            + func.length(t.c.kp)
            + 8
        )
        with self.db.connect() as c:
            n, b = c.execute(
                select(func.count(), func.coalesce(func.sum(size), 0)).where(
                    t.c.codebook == fingerprint
                )
            ).one()
        return int(n), int(b)
