"""What a library holds: folders, file counts, models and their indexes, bytes on disk.

Each derived cache (a model's FAISS index, the local inverted file) is named by its real
state: ``current``, ``stale`` (the next search catches it up), ``damaged`` (the next search
rebuilds it from the database; ``index_note`` says what was wrong) or ``missing``.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.library.index.inverted import LocalIndex
from engine.library.index.vector_index import VectorIndex
from engine.library.store import Store, fs_text
from engine.library.store.fspath import path_bytes_field
from engine.library.store.schema import DB_NAME
from engine.library.store.sqlite import not_writable


def cache_state(loaded, reason: str, generation: int) -> tuple[str, str]:
    """``(state, note)`` of a derived cache loaded as ``(loaded, reason)`` when the database is
    at ``generation``."""
    if loaded is None:
        if reason == "missing":
            return "missing", "not built yet: the next search builds it"
        return "damaged", f"{reason}: the next search rebuilds it from the database"
    if loaded.generation == generation:
        return "current", "current"
    if loaded.generation < generation:
        return "stale", "stale: the next search catches it up"
    return "damaged", "newer than the database: the next search rebuilds it"


def library_status(
    store: Store, directory: Path, index_dir: Path, codebook: str | None = None
) -> dict:
    """The report behind ``visual-search status`` (JSON-ready)."""
    counts = store.counts()
    folders = []
    for fid, path in store.files.folders():
        c = counts["folders"].get(fid, {})
        folders.append(
            {
                "path": fs_text(path),
                **path_bytes_field(path),
                "exists": os.path.isdir(path),
                "indexed": c.get("ok", 0),
                "pending": c.get("new", 0),
                "failed": c.get("failed", 0),
            }
        )
    models = []
    for m in store.models.all():
        loaded, reason = VectorIndex.load(index_dir, m.fingerprint)
        state, note = cache_state(loaded, reason, m.generation)
        models.append(
            {
                "spec": m.spec,
                "fingerprint": m.fingerprint,
                "architecture": m.config.get("architecture"),
                "backbone": m.config.get("backbone"),
                "dim": m.dim,
                "vectors": counts["vectors"].get(m.id, 0),
                "index": loaded.kind if loaded else None,
                "index_current": state == "current",
                "index_state": state,
                "index_note": note,
            }
        )
    codebooks = []
    for b in store.codes.codebooks():
        loaded, reason = LocalIndex.load(index_dir, b["fingerprint"])
        state, note = cache_state(loaded, reason, store.codes.local_generation(b["fingerprint"]))
        photos, nbytes = store.codes.local_bytes(b["fingerprint"])
        codebooks.append(
            {
                "fingerprint": b["fingerprint"],
                "words": b["words"],
                "learned_from_library": b["learned"],
                "active": b["fingerprint"] == codebook,
                "photos": photos,
                "bytes_per_photo": round(nbytes / photos) if photos else 0,
                "index": state,
                "index_note": note,
            }
        )
    db_files = [directory / f"{DB_NAME}{suffix}" for suffix in ("", "-wal", "-shm")]
    size = sum(f.stat().st_size for f in db_files if f.exists())
    index_files = [*index_dir.glob("*.faiss"), *index_dir.glob("vectors-*.npz")]
    index_size = sum(f.stat().st_size for f in index_files)  # FAISS's and NumPy's
    local_size = (
        sum(f.stat().st_size for f in index_dir.glob("local-*.arrays")) if index_dir.exists() else 0
    )
    files = counts["files"]
    return {
        "library": str(directory),
        "read_only": not_writable(directory, store.db_path),
        "folders": folders,
        "files": {
            "indexed": files.get("ok", 0),
            "pending": files.get("new", 0),
            "failed": files.get("failed", 0),
        },
        "models": models,
        "codebooks": codebooks,
        "bytes": {"database": size, "index": index_size, "local_index": local_size},
    }
