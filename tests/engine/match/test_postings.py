"""Scoring a saved inverted file: the postings a query needs are read from the file into the
query's own buffer, in blocks of words, with the same scores as the arrays in memory, and
the file's pages are not left mapped in the process."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from engine.library.index.inverted import read_arrays, write_arrays
from engine.match import ivf as ivf_module
from engine.match.ivf import InvertedFile

WORDS = 4096
BITS_ROW = 16  # bytes of a posting's aggregated residual


def _random_file(photos: int = 2000, per_photo: int = 300, seed: int = 0) -> InvertedFile:
    rng = np.random.default_rng(seed)
    # a skewed word distribution, as real photos have: some words in many photos
    p = 1.0 / np.arange(1, WORDS + 1) ** 0.7
    p /= p.sum()
    items = []
    for i in range(photos):
        words = np.unique(rng.choice(WORDS, per_photo, p=p))
        bits = rng.integers(0, 256, (len(words), BITS_ROW), dtype=np.uint8)
        items.append((1000 + i, words, bits))
    return InvertedFile.build(WORDS, items)


def _saved_and_mapped(ivf: InvertedFile, path) -> InvertedFile:
    with open(path, "wb") as f:
        offsets = write_arrays(f, ivf.arrays())
    return InvertedFile.from_arrays(read_arrays(path, offsets, mapped=True))


def _query(seed: int, n: int = 600):
    rng = np.random.default_rng(seed)
    words = rng.choice(WORDS, n, replace=False)  # not sorted: the order the query has
    return words, rng.integers(0, 256, (n, BITS_ROW), dtype=np.uint8)


def _rss_file_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssFile:"):
                return int(line.split()[1])
    raise AssertionError("no RssFile line")


def test_a_mapped_file_scores_as_the_arrays_in_memory(tmp_path, monkeypatch):
    memory = _random_file()
    mapped = _saved_and_mapped(memory, tmp_path / "local.arrays")
    assert mapped.reads_file and not memory.reads_file
    for seed in range(3):
        words, bits = _query(seed)
        want = memory.scores(words, bits)
        assert np.count_nonzero(want) > 100
        np.testing.assert_allclose(mapped.scores(words, bits), want, rtol=1e-6, atol=1e-9)
        # blocks of a few words each give the same sums as one block
        monkeypatch.setattr(ivf_module, "SCORE_BLOCK", 500)
        np.testing.assert_allclose(mapped.scores(words, bits), want, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(memory.scores(words, bits), want, rtol=1e-6, atol=1e-9)
        monkeypatch.undo()
    D, I = mapped.search(*_query(7), k=10)
    D2, I2 = memory.search(*_query(7), k=10)
    assert list(I) == list(I2) and np.allclose(D, D2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_scoring_a_mapped_file_leaves_none_of_it_resident(tmp_path):
    path = tmp_path / "local.arrays"
    mapped = _saved_and_mapped(_random_file(photos=4000), path)
    size_kb = path.stat().st_size // 1024
    assert size_kb > 8_000
    before = _rss_file_kb()
    for seed in range(4):
        mapped.scores(*_query(seed, n=2000))  # half the words: most of the postings
    grew = _rss_file_kb() - before
    assert grew < size_kb // 10, (grew, size_kb)
    # what reading the postings through the mapping does instead (the measure can tell)
    int(mapped.bits.sum(dtype=np.uint64) & 1)
    assert _rss_file_kb() - before > size_kb // 2


def test_a_file_shorter_than_its_postings_is_refused(tmp_path):
    memory = _random_file(photos=300)
    path = tmp_path / "local.arrays"
    mapped = _saved_and_mapped(memory, path)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with pytest.raises((ValueError, OSError)):
        # the last words' postings lie in the part that is gone
        mapped.scores(np.arange(WORDS - 50, WORDS), np.zeros((50, BITS_ROW), np.uint8))
