"""The models a library holds vectors of, and their generations (``Store.models``)."""

from __future__ import annotations

import json
import time

from sqlalchemy import insert, select, update

from engine.library.store.database import Database
from engine.library.store.schema import ModelRow, advance_model, models_t


class ModelTable:
    """One row per model fingerprint; its generation advances with every change to its
    vectors."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure(self, fingerprint: str, spec: str, config: dict, dim: int) -> ModelRow:
        """The model's row, registered if new and marked as used now. Read-only: the stored
        row as it is, or a row with no vectors (id -1) for a model the library never used."""
        if self.db.read_only:
            return self.get(fingerprint) or ModelRow(-1, fingerprint, spec, config, dim, 0)
        now = time.time()
        with self.db.begin() as c:
            r = c.execute(select(models_t).where(models_t.c.fingerprint == fingerprint)).first()
            if r is None:
                c.execute(
                    insert(models_t).values(
                        fingerprint=fingerprint,
                        spec=spec,
                        config=json.dumps(config, sort_keys=True),
                        dim=dim,
                        generation=0,
                        created_at=now,
                        last_used_at=now,
                    )
                )
            else:
                c.execute(
                    update(models_t)
                    .where(models_t.c.id == r.id)
                    .values(last_used_at=now, spec=spec)
                )
        m = self.get(fingerprint)
        assert m is not None
        return m

    def get(self, fingerprint: str) -> ModelRow | None:
        with self.db.connect() as c:
            r = c.execute(select(models_t).where(models_t.c.fingerprint == fingerprint)).first()
        return _row(r) if r else None

    def all(self) -> list[ModelRow]:
        """Every model with vectors here, most recently used first."""
        with self.db.connect() as c:
            rows = c.execute(select(models_t).order_by(models_t.c.last_used_at.desc()))
            return [_row(r) for r in rows]

    def generation(self, model_id: int) -> int:
        with self.db.connect() as c:
            g = c.execute(
                select(models_t.c.generation).where(models_t.c.id == model_id)
            ).scalar_one_or_none()
        return int(g or 0)

    def bump_generation(self, model_id: int) -> int:
        """Mark ``model_id``'s vectors as changed (a saved index must catch up); returns the
        new generation."""
        with self.db.begin() as c:
            return advance_model(c, model_id)


def _row(r) -> ModelRow:
    return ModelRow(r.id, r.fingerprint, r.spec, json.loads(r.config), r.dim, r.generation)
