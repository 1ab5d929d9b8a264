"""NumPy's nearest neighbours and k-means (``engine.match.nearest``), the path of an install
without FAISS: the same word assignment and exact search as FAISS (up to float ties), and a
deterministic k-means whose codebook finds what FAISS's finds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine import faiss_device
from engine.errors import CancelledError
from engine.match import (
    Codebook,
    local_features,
    nearest,
    train_codebook,
)
from engine.match.codebook import default_codebook
from tests.engine.match.conftest import rotated_copy_found


@pytest.fixture(scope="module")
def descriptors(scenes):
    return np.concatenate([local_features(im).desc for im in scenes])


@pytest.fixture
def faiss():
    return pytest.importorskip("faiss")


@pytest.fixture
def no_faiss(monkeypatch):
    """The engine as on an install without FAISS (in this process)."""
    monkeypatch.setattr(faiss_device, "available", lambda: False)


def _same_up_to_ties(x, c, a, b, tol=1e-5):
    """``a`` and ``b`` are ``(D, I)`` of ``x`` among ``c``: equal distances, and equal ids
    except where two words are at nearly the same distance (a float tie)."""
    np.testing.assert_allclose(a[0], b[0], rtol=1e-4, atol=1e-5)
    rows, cols = np.nonzero(a[1] != b[1])
    x64, c64 = x.astype(np.float64), c.astype(np.float64)
    for r, j in zip(rows, cols, strict=True):
        da = ((x64[r] - c64[a[1][r, j]]) ** 2).sum()
        db = ((x64[r] - c64[b[1][r, j]]) ** 2).sum()
        assert abs(da - db) < tol, (r, j, da, db)


@pytest.mark.parametrize("m", [1, 3])
def test_numpy_assignment_equals_faiss_on_real_rootsift(descriptors, m, faiss):
    c = default_codebook().centroids  # 16,384 words learned on photographs
    flat = faiss.IndexFlatL2(c.shape[1])
    flat.add(c)
    x = descriptors[:1000]
    assert len(x) == 1000
    D, I = flat.search(x, m)
    D2, I2 = nearest.knn_l2(x, c, m)
    assert I2.dtype == np.int64 and D2.dtype == np.float32 and I2.shape == (len(x), m)
    _same_up_to_ties(x, c, (D, I), (D2, I2))
    assert (I == I2).mean() > 0.999
    few = x[:7]  # FAISS computes a few queries without BLAS
    _same_up_to_ties(few, c, flat.search(few, m), nearest.knn_l2(few, c, m))


def test_codebook_assigns_as_faiss_exact_index_does(descriptors, monkeypatch, faiss):
    """The shipped codebook's words are assigned by NumPy with or without FAISS installed,
    and agree with FAISS's exact index up to float ties."""
    book = Codebook(default_codebook().centroids)
    monkeypatch.setattr(faiss_device, "available", lambda: False)
    without = Codebook(default_codebook().centroids)
    assert book._index is None and without._index is None
    assert without.fingerprint == book.fingerprint
    flat = faiss.IndexFlatL2(book.centroids.shape[1])
    flat.add(book.centroids)
    x = np.ascontiguousarray(descriptors, dtype=np.float32)
    _same_up_to_ties(descriptors, book.centroids, flat.search(x, 3), book.assign(descriptors, 3))
    assert book.assign(descriptors[:0], 2)[1].shape == (0, 2)


def test_knn_pads_like_faiss_where_fewer_rows_exist(faiss):
    rng = np.random.default_rng(0)
    c = rng.standard_normal((3, 8)).astype(np.float32)
    x = rng.standard_normal((4, 8)).astype(np.float32)
    l2 = faiss.IndexFlatL2(8)
    l2.add(c)
    ip = faiss.IndexFlatIP(8)
    ip.add(c)
    for ours, theirs in (
        (nearest.knn_l2(x, c, 5), l2.search(x, 5)),
        (nearest.knn_ip(x, c, 5), ip.search(x, 5)),
    ):
        np.testing.assert_array_equal(ours[1], theirs[1])
        np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)
        assert (ours[1][:, 3:] == -1).all()
        assert (np.abs(ours[0][:, 3:]) == np.finfo(np.float32).max).all()


def test_exact_inner_product_search_equals_faiss_blockwise_and_restricted(faiss):
    rng = np.random.default_rng(1)
    xb = rng.standard_normal((4000, 64)).astype(np.float32)
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    xq = xb[:100] + 0.1 * rng.standard_normal((100, 64)).astype(np.float32)
    flat = faiss.IndexFlatIP(64)
    flat.add(xb)
    D, I = flat.search(xq, 20)
    for block in (nearest.BLOCK, 4000 * 3):  # one block, and 3 queries a block
        D2, I2 = nearest.knn_ip(xq, xb, 20, block=block)
        np.testing.assert_array_equal(I, I2)
        np.testing.assert_allclose(D, D2, rtol=1e-5, atol=1e-6)
    rows = np.arange(3, 4000, 11)
    _D3, I3 = nearest.knn_ip(xq, xb, 20, rows)
    sub = faiss.IndexFlatIP(64)
    sub.add(xb[rows])
    _Ds, Is = sub.search(xq, 20)
    np.testing.assert_array_equal(I3, rows[Is])


def test_kmeans_lowers_the_inertia_and_repeats_for_a_seed(descriptors):
    c, history = nearest.kmeans(descriptors, 64, niter=8, seed=3)
    assert c.shape == (64, 128) and c.dtype == np.float32
    assert len(history) == 8 and history[-1] < 0.8 * history[0]
    assert all(b <= a * (1 + 1e-4) for a, b in itertools.pairwise(history))
    again, history2 = nearest.kmeans(descriptors, 64, niter=8, seed=3)
    np.testing.assert_array_equal(c, again)
    assert history == history2
    other, _ = nearest.kmeans(descriptors, 64, niter=8, seed=4)
    assert not np.array_equal(c, other)
    blocks, _ = nearest.kmeans(descriptors, 64, niter=8, seed=3, block=64 * 100)
    np.testing.assert_allclose(blocks, c, rtol=1e-4, atol=1e-5)  # blocks change float sums only


def test_kmeans_recovers_separated_clusters_and_fills_empty_ones():
    rng = np.random.default_rng(0)
    centres = np.concatenate([10 * np.eye(8, dtype=np.float32)[:4], -10 * np.eye(8)[:4]])
    x = centres[rng.integers(0, 8, 4000)] + 0.3 * rng.standard_normal((4000, 8))
    c, _ = nearest.kmeans(x.astype(np.float32), 8, niter=30, seed=0)
    near = np.linalg.norm(centres[:, None] - c[None], axis=2).min(axis=1)
    assert near.max() < 0.5  # every true centre has a centroid on it
    dup = np.repeat(x[:5].astype(np.float32), 10, axis=0)  # 5 distinct points, 6 words
    c, _ = nearest.kmeans(dup, 6, niter=5, seed=0)
    assert np.isfinite(c).all() and len(np.unique(c, axis=0)) == 6


def test_kmeans_reports_progress_and_can_be_cancelled(descriptors):
    seen = []
    nearest.kmeans(descriptors, 16, niter=3, progress=lambda i, n, msg: seen.append((i, n, msg)))
    assert [s[:2] for s in seen] == [(1, 3), (2, 3), (3, 3)] and "k-means" in seen[0][2]
    with pytest.raises(CancelledError):
        nearest.kmeans(descriptors, 16, niter=3, should_stop=lambda: True)
    with pytest.raises(ValueError):
        nearest.kmeans(descriptors[:3], 4)


def test_a_numpy_codebook_finds_and_verifies_a_rotated_copy(scenes, descriptors, no_faiss):
    book = train_codebook(descriptors, 256, seed=0)
    assert '"kmeans": "numpy"' in book.meta["training"] and book._index is None
    rotated_copy_found(book, scenes)


def test_faiss_device_says_no_gpu_and_asks_for_the_extra_without_faiss(no_faiss):
    from engine.errors import NeedsFaiss

    assert faiss_device.gpu_count() == 0 and not faiss_device.want_gpu("auto")
    with pytest.raises(NeedsFaiss, match=r"pip install 'visual-search\[faiss\]'"):
        faiss_device.require("approximate search")


@pytest.fixture(scope="module")
def photo_descriptors():
    """RootSIFT of the real photographs in tests/data."""
    from tests.helpers import ROOT

    photos = sorted((ROOT / "tests" / "data").glob("*.jpg"))
    return np.concatenate([local_features(p).desc for p in photos])


def test_cells_find_most_nearest_words_of_real_descriptors(photo_descriptors):
    """Indexing's word assignment: the exact nearest word for at least 9 in 10 real RootSIFT
    descriptors, the true distance to the word it returns, the same cells in every build."""
    book = default_codebook()
    _, exact = book.assign(photo_descriptors, 1)
    cells = nearest.Cells(book.centroids)
    D, I = cells.nearest(photo_descriptors)
    assert np.mean(exact[:, 0] == I) >= 0.9
    true = ((photo_descriptors - book.centroids[I]) ** 2).sum(axis=1)
    np.testing.assert_allclose(D, true, rtol=1e-3, atol=1e-4)
    again = nearest.Cells(book.centroids)
    assert np.array_equal(again.order, cells.order) and np.array_equal(
        again.nearest(photo_descriptors)[1], I
    )
    assert cells.nearest(np.zeros((0, 128), np.float32))[1].shape == (0,)


def test_codes_of_the_shipped_codebook_find_and_verify_a_rotated_copy(scenes):
    """The shipped codebook is large enough for ``Cells``: codes made through it still rank
    and verify a rotated copy first."""
    from engine.match import asmk

    book = default_codebook()
    assert book.size >= asmk.CELLS_FROM_WORDS
    rotated_copy_found(book, scenes)
