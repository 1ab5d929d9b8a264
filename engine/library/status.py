"""What a library holds: folders, file counts, models and their indexes, bytes on disk."""

from __future__ import annotations

import os
from pathlib import Path

from .localindex import LocalIndex
from .schema import DB_NAME
from .store import Store, fs_text
from .vectors import VectorIndex


def library_status(
    store: Store, directory: Path, index_dir: Path, codebook: str | None = None
) -> dict:
    """The report behind ``visual-search status`` (JSON-ready)."""
    counts = store.counts()
    folders = []
    for fid, path in store.folders():
        c = counts["folders"].get(fid, {})
        folders.append(
            {
                "path": fs_text(path),
                "exists": os.path.isdir(path),
                "indexed": c.get("ok", 0),
                "pending": c.get("new", 0),
                "failed": c.get("failed", 0),
            }
        )
    models = []
    for m in store.models():
        loaded, _ = VectorIndex.load(index_dir, m.fingerprint)
        models.append(
            {
                "spec": m.spec,
                "fingerprint": m.fingerprint,
                "architecture": m.config.get("architecture"),
                "backbone": m.config.get("backbone"),
                "dim": m.dim,
                "vectors": counts["vectors"].get(m.id, 0),
                "index": loaded.kind if loaded else None,
                "index_current": bool(loaded and loaded.generation == m.generation),
            }
        )
    codebooks = []
    for b in store.codebooks():
        loaded, reason = LocalIndex.load(index_dir, b["fingerprint"])
        photos, nbytes = store.local_bytes(b["fingerprint"])
        codebooks.append(
            {
                "fingerprint": b["fingerprint"],
                "words": b["words"],
                "learned_from_library": b["learned"],
                "active": b["fingerprint"] == codebook,
                "photos": photos,
                "bytes_per_photo": round(nbytes / photos) if photos else 0,
                "index": "current"
                if loaded and loaded.generation == store.local_generation(b["fingerprint"])
                else ("stale" if loaded else reason),
            }
        )
    size = sum(f.stat().st_size for f in directory.glob(f"{DB_NAME}*"))
    index_size = (
        sum(f.stat().st_size for f in index_dir.glob("*.faiss")) if index_dir.exists() else 0
    )
    local_size = (
        sum(f.stat().st_size for f in index_dir.glob("local-*.npz")) if index_dir.exists() else 0
    )
    files = counts["files"]
    return {
        "library": str(directory),
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
