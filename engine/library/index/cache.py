"""A file derived from SQLite and saved beside the library: the FAISS index of a model's
vectors, the inverted file of a codebook's codes.

``CacheFile`` writes the file atomically (temp file, fsync, rename) next to a JSON sidecar
recording the store generation it reflects, its size and a BLAKE2b of the whole file, and
reads it back only when every check passes. ``reconcile`` is the one policy for opening such a
cache: use it when it reflects the store's generation, catch it up when it is older, rebuild
it when it is missing, damaged, newer than the store or of the wrong shape; then save it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from engine.atomic import file_digest, write_atomically, write_json_atomically
from engine.inputs import check_regular, load_json


class CacheFile:
    """``<directory>/<stem><suffix>`` and its sidecar ``<directory>/<stem>.json``."""

    def __init__(self, directory: str | os.PathLike, stem: str, suffix: str) -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"{stem}{suffix}"
        self.meta_path = self.directory / f"{stem}.json"

    def save(self, write: Callable[[str], None], meta: dict) -> None:
        """``write(tmp_path)`` writes the payload; ``meta`` (generation, count, ...) is saved
        with the payload's digest."""
        self.directory.mkdir(parents=True, exist_ok=True)
        full: dict = {}

        def payload(tmp: str) -> None:
            write(tmp)
            full.update(meta, blake2b=file_digest(tmp))

        write_atomically(self.path, payload)
        write_json_atomically(self.meta_path, full)

    def load(self, read: Callable[[Path, dict], T]) -> tuple[T | None, str]:
        """``read(path, meta)`` of a file whose digest matches its sidecar, or ``(None,
        reason)``; ``read`` raises ``ValueError`` with the reason when the payload disagrees
        with ``meta``."""
        if not self.path.exists() or not self.meta_path.exists():
            return None, "missing"
        try:
            check_regular(self.path, 1 << 40)  # a FIFO here would hang the digest
            meta = load_json(self.meta_path)
            if "blake2b" not in meta:
                return None, "saved by an older version"
            if file_digest(self.path) != meta["blake2b"]:
                return None, "damaged (checksum mismatch)"
            return read(self.path, meta), "ok"
        except ValueError as e:
            return None, f"damaged ({e})"
        except Exception as e:
            return None, f"damaged ({type(e).__name__})"


T = TypeVar("T")


class Derived(Protocol):
    generation: int
    rebuilt: bool
    reason: str | None


D = TypeVar("D", bound=Derived)


def reconcile(
    loaded: D | None,
    reason: str,
    generation: int,
    build: Callable[[], D],
    catch_up: Callable[[D], bool],
    save: Callable[[D], None] | None,
    shape_ok: Callable[[D], str | None] = lambda _d: None,
) -> D:
    """The cache to use for the store at ``generation``.

    ``loaded`` as it is when current; caught up (``catch_up(loaded)`` returns False when it
    cannot be) when older; else ``build()``. ``shape_ok`` returns why a loaded cache cannot be
    used at all (wrong kind or size), or None. A cache that changed is saved with ``save``
    (an unwritable library still searches).
    """
    if loaded is not None:
        wrong = shape_ok(loaded)
        if wrong:
            loaded, reason = None, wrong
    if loaded is not None and loaded.generation == generation:
        return loaded
    if loaded is not None and loaded.generation < generation and catch_up(loaded):
        out = loaded
        out.generation, out.reason = generation, "caught up"
    else:
        if loaded is not None:
            reason = "newer than the store" if loaded.generation > generation else "stale"
        out = build()
        out.rebuilt, out.reason = True, reason
    if save is not None:
        with contextlib.suppress(OSError):
            save(out)
    return out
