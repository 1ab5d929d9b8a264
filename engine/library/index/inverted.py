"""The local-feature inverted file of a library: a cache derived from the codes in SQLite.

One file per codebook, ``index/local-<codebook>.arrays`` with a JSON sidecar recording the store
generation it reflects, its photo count, where each array lies in the file and a BLAKE2b of the
whole file. It is written atomically (temp file, fsync, rename). The arrays are ``.npy``
records at 64-byte offsets, memory-mapped on open (POSIX); a search reads the postings of its
query's words from the file into a buffer of its own (``engine.match.postings``), so a
100,000-photo library does not hold its 1.4 GB of postings in memory.
On open, a missing or damaged file is rebuilt from SQLite; a stale one catches up: photos that
left the store (deleted) or were re-encoded since its generation leave the file, codes written
since join it. A move keeps its file id and its code, so it costs nothing here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.library.index.cache import CacheFile, reconcile
from engine.library.store import Store
from engine.match import InvertedFile
from engine.tasks import ProgressFn

#: memory-map the saved arrays (a saved file is replaced by rename, which a mapping survives
#: on POSIX; Windows refuses to replace a mapped file, so there they are read)
MAP_FILES = os.name == "posix"
#: each array starts at a multiple of this many bytes
ALIGN = 64
#: photos read from SQLite between two progress reports of a rebuild
REPORT_EVERY = 2048


def write_arrays(f, arrays: dict[str, np.ndarray]) -> dict[str, int]:
    """Write ``arrays`` as ``.npy`` records at ``ALIGN``-byte offsets; returns the offsets."""
    offsets = {}
    for name, a in arrays.items():
        f.write(b"\0" * (-f.tell() % ALIGN))
        offsets[name] = f.tell()
        np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
    return offsets


def read_arrays(path: Path, offsets: dict[str, int], mapped: bool) -> dict[str, np.ndarray]:
    """The arrays ``write_arrays`` wrote at ``offsets``, memory-mapped read-only or read."""
    out = {}
    with open(path, "rb") as f:
        for name, offset in offsets.items():
            f.seek(int(offset))
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            if fortran or dtype.hasobject:
                raise ValueError(f"array {name!r} is not a plain C-ordered array")
            count = int(np.prod(shape))
            if mapped and count:
                out[name] = np.memmap(path, dtype, "r", offset=f.tell(), shape=shape)
            else:
                out[name] = np.fromfile(f, dtype, count=count).reshape(shape)
                if len(out[name].reshape(-1)) != count:
                    raise ValueError(f"array {name!r} is truncated")
    return out


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
    def build(
        cls, store: Store, codebook: str, words: int, progress: ProgressFn | None = None
    ) -> LocalIndex:
        """From every code of ``codebook`` in SQLite (generation read first: a concurrent
        writer can only make the result look stale, never wrongly fresh); ``progress`` hears
        of every ``REPORT_EVERY`` photos read."""
        generation = store.codes.local_generation(codebook)
        total = len(store.codes.local_ids(codebook)) if progress is not None else 0

        def items():
            for n, (fid, c) in enumerate(store.codes.iter_local_codes(codebook), 1):
                if progress is not None and (n % REPORT_EVERY == 0 or n == total):
                    progress(n, max(total, n), "")
                yield fid, c.words, c.bits

        return cls(InvertedFile.build(words, items()), codebook, generation)

    def catch_up(self, store: Store) -> bool:
        held = self.ivf.ids
        gone = np.setdiff1d(held, store.codes.local_ids(self.codebook))
        fresh = list(store.codes.iter_local_codes(self.codebook, newer_than=self.generation))
        redo = [fid for fid, _ in fresh if fid in self.ivf]
        self.ivf = self.ivf.without([*gone.tolist(), *redo]).plus(
            (fid, c.words, c.bits) for fid, c in fresh
        )
        return True

    @staticmethod
    def file(directory: str | os.PathLike, codebook: str) -> CacheFile:
        return CacheFile(directory, f"local-{codebook}", ".arrays")

    def save(self, directory: str | os.PathLike) -> None:
        meta = {"generation": self.generation, "count": len(self.ivf), "words": self.ivf.words}

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                meta["arrays"] = write_arrays(f, self.ivf.arrays())

        self.file(directory, self.codebook).save(write, meta)
        (Path(directory) / f"local-{self.codebook}.npz").unlink(missing_ok=True)  # older format

    @classmethod
    def load(cls, directory: str | os.PathLike, codebook: str) -> tuple[LocalIndex | None, str]:
        """The saved file, or ``(None, reason)`` when it is missing or damaged."""

        def read(path: Path, meta: dict) -> LocalIndex:
            ivf = InvertedFile.from_arrays(read_arrays(path, meta["arrays"], MAP_FILES))
            if len(ivf) != meta["count"]:
                raise ValueError("size mismatch")
            return cls(ivf, codebook, int(meta["generation"]))

        return cls.file(directory, codebook).load(read)

    @classmethod
    def open(
        cls,
        store: Store,
        codebook: str,
        words: int,
        directory: str | os.PathLike,
        save: bool = True,
        progress: ProgressFn | None = None,
    ) -> LocalIndex:
        """The saved file if current, caught up if stale, rebuilt if missing or damaged (see
        ``cache.reconcile``); ``progress`` hears how a rebuild goes."""
        loaded, reason = cls.load(directory, codebook)
        return reconcile(
            loaded,
            reason,
            store.codes.local_generation(codebook),
            build=lambda: cls.build(store, codebook, words, progress),
            catch_up=lambda li: li.catch_up(store),
            save=(lambda li: li.save(directory)) if save else None,
            shape_ok=lambda li: None if li.ivf.words == words else "damaged (word count mismatch)",
        )
