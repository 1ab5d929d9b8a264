"""Runs of rows of a postings array, gathered for a query's words.

An inverted file's postings (``img``, ``bits``) are kept sorted by word, so a query needs a
few hundred runs ``[start, start + length)``. In memory they are gathered by indexing. When
the array is memory-mapped from a saved file, the runs are read with ``pread`` into a buffer
of this query instead of being touched through the mapping: the kernel maps file pages into
a process in large blocks around each touched page (measured on a 100,000-photo library: a
query whose postings are 96 MB grew the resident set by 760 MB, and every later query added
to it), while a buffer read is freed when the query ends. The file's pages stay in the
kernel's page cache either way, so a warm query reads from memory.
"""

from __future__ import annotations

import os
import weakref

import numpy as np


class PostingRows:
    """``gather(starts, lens)``: rows ``[s, s + l)`` of ``array`` for each run, concatenated.

    ``source`` is the array as given (a ``np.memmap`` of a saved file, or not); ``array`` the
    same rows as the inverted file holds them. The file is read when ``source`` maps it with
    ``array``'s type and row shape.
    """

    def __init__(self, source: np.ndarray, array: np.ndarray) -> None:
        self.array = array
        self._fd: int | None = None
        path = getattr(source, "filename", None)
        if (
            isinstance(source, np.memmap)
            and path
            and hasattr(os, "preadv")
            and source.dtype == array.dtype
            and source.shape == array.shape
        ):
            self._fd = os.open(path, os.O_RDONLY)
            # the descriptor keeps the file read even after a newer save replaces its name,
            # as the mapping does; closed with this object
            weakref.finalize(self, os.close, self._fd)
            self._offset = int(source.offset)
            self._row_shape = array.shape[1:]
            self._row_bytes = array.dtype.itemsize * int(np.prod(self._row_shape, dtype=np.int64))

    @property
    def reads_file(self) -> bool:
        return self._fd is not None

    def gather(self, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
        total = int(lens.sum())
        if self._fd is None:
            first = np.cumsum(lens) - lens
            pos = np.arange(total, dtype=np.int64) + np.repeat(starts - first, lens)
            return self.array[pos]
        out = np.empty((total, *self._row_shape), self.array.dtype)
        buf = memoryview(out.reshape(-1).view(np.uint8))
        at = 0
        for start, n in _merged(starts.tolist(), lens.tolist()):
            size = n * self._row_bytes
            got = os.preadv(self._fd, [buf[at : at + size]], self._offset + start * self._row_bytes)
            if got != size:
                raise ValueError("the inverted file is shorter than its postings")
            at += size
        return out


def _merged(starts: list[int], lens: list[int]) -> list[tuple[int, int]]:
    """The runs in order, adjacent ones joined (one read each)."""
    runs: list[tuple[int, int]] = []
    for s, n in zip(starts, lens, strict=True):
        if not n:
            continue
        if runs and runs[-1][0] + runs[-1][1] == s:
            runs[-1] = (runs[-1][0], runs[-1][1] + n)
        else:
            runs.append((s, n))
    return runs
