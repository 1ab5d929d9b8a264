"""The local-feature inverted file of a library: a cache derived from the codes in SQLite.

One file per codebook, ``index/local-<codebook>.npz`` with a JSON sidecar recording the store
generation it reflects, its photo count and a BLAKE2b of the whole file. It is written
atomically (temp file, fsync, rename). On open, a missing or damaged file is rebuilt from
SQLite; a stale one catches up: photos that left the store (deleted) or were re-encoded since
its generation leave the file, codes written since join it. A move keeps its file id and its
code, so it costs nothing here.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np

from engine.atomic import file_digest, write_atomically, write_json_atomically
from engine.library.store.store import Store
from engine.match import InvertedFile


class LocalIndex:
    """An ``InvertedFile`` plus the codebook fingerprint and store generation it reflects."""

    def __init__(self, ivf: InvertedFile, codebook: str, generation: int) -> None:
        self.ivf = ivf
        self.codebook = codebook
        self.generation = generation
        self.rebuilt = False
        self.reason: str | None = None

    @staticmethod
    def paths(directory: Path, codebook: str) -> tuple[Path, Path]:
        return directory / f"local-{codebook}.npz", directory / f"local-{codebook}.json"

    @classmethod
    def build(cls, store: Store, codebook: str, words: int) -> LocalIndex:
        """From every code of ``codebook`` in SQLite (generation read first: a concurrent
        writer can only make the result look stale, never wrongly fresh)."""
        generation = store.local_generation(codebook)
        items = ((fid, c.words, c.bits) for fid, c in store.iter_local_codes(codebook))
        return cls(InvertedFile.build(words, items), codebook, generation)

    def catch_up(self, store: Store, generation: int) -> None:
        held = self.ivf.ids
        gone = np.setdiff1d(held, store.local_ids(self.codebook))
        fresh = list(store.iter_local_codes(self.codebook, newer_than=self.generation))
        redo = [fid for fid, _ in fresh if fid in self.ivf]
        self.ivf = self.ivf.without([*gone.tolist(), *redo]).plus(
            (fid, c.words, c.bits) for fid, c in fresh
        )
        self.generation = generation

    def save(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        ipath, mpath = self.paths(directory, self.codebook)
        meta: dict = {}

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **self.ivf.arrays())
            meta.update(
                generation=self.generation,
                count=len(self.ivf),
                words=self.ivf.words,
                blake2b=file_digest(tmp),
            )

        write_atomically(ipath, write)
        write_json_atomically(mpath, meta)

    @classmethod
    def load(cls, directory: str | os.PathLike, codebook: str) -> tuple[LocalIndex | None, str]:
        """The saved file, or ``(None, reason)`` when it is missing or damaged."""
        ipath, mpath = cls.paths(Path(directory), codebook)
        if not ipath.exists() or not mpath.exists():
            return None, "missing"
        try:
            meta = json.loads(mpath.read_text())
            if "blake2b" not in meta:
                return None, "saved by an older version"
            if file_digest(ipath) != meta["blake2b"]:
                return None, "damaged (checksum mismatch)"
            with np.load(ipath, allow_pickle=False) as z:
                ivf = InvertedFile.from_arrays({k: z[k] for k in z.files})
        except Exception as e:
            return None, f"damaged ({type(e).__name__})"
        if len(ivf) != meta["count"]:
            return None, "damaged (size mismatch)"
        return cls(ivf, codebook, int(meta["generation"])), "ok"

    @classmethod
    def open(
        cls,
        store: Store,
        codebook: str,
        words: int,
        directory: str | os.PathLike,
        save: bool = True,
    ) -> LocalIndex:
        """The saved file if current, caught up if stale, rebuilt if missing or damaged."""
        loaded, reason = cls.load(directory, codebook)
        generation = store.local_generation(codebook)
        if loaded is not None and loaded.ivf.words != words:
            loaded, reason = None, "damaged (word count mismatch)"
        if loaded is not None and loaded.generation == generation:
            return loaded
        if loaded is not None and loaded.generation < generation:
            loaded.catch_up(store, generation)
            li, li.reason = loaded, "caught up"
        else:
            if loaded is not None:
                reason = "newer than the store"
            li = cls.build(store, codebook, words)
            li.rebuilt, li.reason = True, reason
        if save:
            with contextlib.suppress(OSError):  # a read-only library still searches
                li.save(directory)
        return li
