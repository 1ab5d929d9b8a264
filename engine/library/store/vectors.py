"""Per-model descriptors in the library database (``Store.vectors``).

Every write advances the model's generation, and each vector records the generation that
wrote it, so a saved FAISS index can catch up by delta (``VectorIndex.catch_up``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from sqlalchemy import bindparam, func, insert, select, update

from engine.library.store.database import Database
from engine.library.store.schema import (
    FAILED,
    IDS_PER_QUERY,
    OK,
    advance_model,
    chunks,
    files_t,
    vectors_t,
)


class VectorTable:
    """Per-model descriptors of a library database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------------- vectors

    def record_extractions(
        self,
        model_id: int,
        done: Sequence[tuple[int, np.ndarray, tuple[int, int] | None]],
        failed: Sequence[tuple[int, str]] = (),
        notes: dict[int, str] | None = None,
    ) -> None:
        """In one transaction: ``done`` ``(file id, vector (d,) float32 | None, (width,
        height))`` store the vector (when there is one: a photo indexed for its local
        features alone has none yet) under a new generation and mark the file ok (with its
        entry of ``notes`` as the reason shown by ``errors``, if any); ``failed`` ``(file id,
        error)`` mark the file failed."""
        now = time.time()
        with self.db.begin() as c:
            generation = advance_model(c, model_id)
            if failed:
                c.execute(
                    update(files_t)
                    .where(files_t.c.id == bindparam("b_id"))
                    .values(status=FAILED, updated_at=now),
                    [{"b_id": i, "error": err} for i, err in failed],
                )
            if not done:
                return
            vectors = [
                {
                    "file_id": i,
                    "model_id": model_id,
                    "vector": np.ascontiguousarray(vec, dtype=np.float32).tobytes(),
                    "generation": generation,
                }
                for i, vec, _ in done
                if vec is not None
            ]
            if vectors:
                c.execute(insert(vectors_t).prefix_with("OR REPLACE"), vectors)
            c.execute(
                update(files_t)
                .where(files_t.c.id == bindparam("b_id"))
                .values(status=OK, updated_at=now),
                [
                    {
                        "b_id": i,
                        "width": wh[0] if wh else None,
                        "height": wh[1] if wh else None,
                        "error": (notes or {}).get(i),
                    }
                    for i, _, wh in done
                ],
            )

    def count_vectors(self, model_id: int) -> int:
        with self.db.connect() as c:
            return int(
                c.execute(
                    select(func.count())
                    .select_from(vectors_t)
                    .where(vectors_t.c.model_id == model_id)
                ).scalar_one()
            )

    def count_missing(self, model_id: int) -> int:
        """Indexed photos (status ok) that have no vector for ``model_id`` yet."""
        has = select(vectors_t.c.file_id).where(vectors_t.c.model_id == model_id)
        with self.db.connect() as c:
            return int(
                c.execute(
                    select(func.count())
                    .select_from(files_t)
                    .where(files_t.c.status == OK, files_t.c.id.not_in(has))
                ).scalar_one()
            )

    def vector_ids(self, model_id: int) -> np.ndarray:
        """File ids that have a vector for ``model_id``, ``(n,) int64``."""
        with self.db.connect() as c:
            rows = c.execute(select(vectors_t.c.file_id).where(vectors_t.c.model_id == model_id))
            return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def iter_vectors(
        self, model_id: int, chunk: int = 20000, newer_than: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(ids (n,) int64, xb (n, d) float32)`` chunks of a model's vectors, by file id;
        only those written after generation ``newer_than`` when given."""
        last = -1
        cond = [vectors_t.c.model_id == model_id]
        if newer_than is not None:
            cond.append(vectors_t.c.generation > newer_than)
        with self.db.connect() as c:
            while True:
                rows = c.execute(
                    select(vectors_t.c.file_id, vectors_t.c.vector)
                    .where(*cond, vectors_t.c.file_id > last)
                    .order_by(vectors_t.c.file_id)
                    .limit(chunk)
                ).all()
                if not rows:
                    return
                ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                xb = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
                yield ids, xb.reshape(len(rows), -1)
                last = int(ids[-1])

    def vectors_for(self, model_id: int, file_ids: Iterable[int]) -> dict[int, np.ndarray]:
        ids = [int(i) for i in file_ids]
        out = {}
        with self.db.connect() as c:
            for chunk in chunks(ids, IDS_PER_QUERY):
                rows = c.execute(
                    select(vectors_t.c.file_id, vectors_t.c.vector).where(
                        vectors_t.c.model_id == model_id, vectors_t.c.file_id.in_(chunk)
                    )
                )
                for fid, blob in rows:
                    out[fid] = np.frombuffer(blob, dtype=np.float32)
        return out
