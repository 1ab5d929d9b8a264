"""The FAISS cache: exact vs approximate, recall, atomic save, rebuild when stale or corrupt."""

from __future__ import annotations

import numpy as np
import pytest

from engine.library import Library
from engine.library.index.vector_index import VectorIndex
from tests.helpers import MODEL


def clustered_unit_vectors(n: int, d: int, clusters: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around random centres (photo descriptors cluster; uniform noise does not)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.35 * rng.standard_normal((n, d)).astype(
        np.float32
    )
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_hnsw_recall_at_10_against_exact():
    x = clustered_unit_vectors(20_200, 64, 200)
    xb, xq = x[:20_000], x[20_000:]  # held-out queries from the same distribution
    ids = np.arange(100, 100 + len(xb), dtype=np.int64)
    exact, approx = VectorIndex.empty(64, "flat"), VectorIndex.empty(64, "hnsw")
    exact.add(ids, xb)
    approx.add(ids, xb)
    _, ie = exact.search(xq, 10)
    _, ia = approx.search(xq, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(ia, ie, strict=True)])
    print(f"HNSW recall@10 vs exact on 20k x 64: {recall:.3f}")
    assert recall >= 0.95
    assert set(np.unique(ie)) <= set(ids)


def test_kind_chosen_by_size():
    assert VectorIndex.choose_kind("auto", 10, threshold=50) == "flat"
    assert VectorIndex.choose_kind("auto", 50, threshold=50) == "hnsw"
    assert VectorIndex.choose_kind("flat", 10**7) == "flat"
    with pytest.raises(ValueError):
        VectorIndex.choose_kind("ivf", 1)


def test_restricted_search():
    xb = clustered_unit_vectors(500, 16, 10)
    vi = VectorIndex.empty(16, "flat")
    vi.add(np.arange(500), xb)
    _, I = vi.search(xb[:1], 5, ids=np.array([3, 7, 11]))
    assert set(I[0][I[0] >= 0]) == {3, 7, 11}


def test_library_switches_to_approximate_above_threshold(tmp_path, photos):
    lib = Library(tmp_path / "lib", device="cpu", approx_threshold=10)
    lib.index([photos], model=MODEL, vectors=True)
    _, row = lib.model(MODEL)
    assert lib.vector_index(row).kind == "hnsw"
    res = lib.search(photos / "home" / "obj1_2.jpg", k=5, folder=photos / "home")
    assert res.index_kind == "hnsw" and all("/home/" in h.path for h in res.hits)
    exact = Library(tmp_path / "lib", device="cpu", index_kind="flat")
    a = [h.path for h in lib.search(photos / "home" / "obj1_2.jpg", k=5).hits]
    b = [h.path for h in exact.search(photos / "home" / "obj1_2.jpg", k=5).hits]
    assert a == b  # 12 photos: the graph finds the exact answer
    lib.close()
    exact.close()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete", "sidecar"])
def test_damaged_index_file_is_detected_and_rebuilt(tmp_path, photos, damage):
    lib = Library(tmp_path / "lib", device="cpu")
    lib.index([photos], model=MODEL, vectors=True)
    q = photos / "trips" / "obj0_0.jpg"
    want = [(h.path, round(h.score, 5)) for h in lib.search(q, k=5).hits]
    _, row = lib.model(MODEL)
    cache = VectorIndex.file(lib.index_dir, row.fingerprint)
    ipath, mpath = cache.path, cache.meta_path
    data = ipath.read_bytes()
    if damage == "truncate":
        ipath.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        ipath.write_bytes(b"\x13\x37" * (len(data) // 2))
    elif damage == "delete":
        ipath.unlink()
    else:
        mpath.write_text("{broken")
    lib.close()
    loaded, reason = VectorIndex.load(lib.index_dir, row.fingerprint)
    assert loaded is None and reason != "ok"
    lib2 = Library(tmp_path / "lib", device="cpu")
    _, row2 = lib2.model(MODEL)
    vi = lib2.vector_index(row2)
    assert vi.rebuilt and vi.ntotal == 12
    assert [(h.path, round(h.score, 5)) for h in lib2.search(q, k=5).hits] == want
    loaded, reason = VectorIndex.load(lib2.index_dir, row2.fingerprint)  # saved again, sound
    assert reason == "ok" and loaded.ntotal == 12
    lib2.close()


def test_saved_index_follows_the_store_generation(tmp_path, photos):
    lib = Library(tmp_path / "lib", device="cpu")
    lib.index([photos / "home"], model=MODEL, vectors=True)
    _, row = lib.model(MODEL)
    old_gen = lib.vector_index(row).generation
    lib.index([photos / "trips"], model=MODEL, vectors=True)
    # a second process opening the library sees the saved index reflects the new generation
    other = Library(tmp_path / "lib", device="cpu")
    _, row2 = other.model(MODEL)
    vi = other.vector_index(row2)
    assert vi.ntotal == 12 and vi.generation > old_gen and not vi.rebuilt
    # a generation moved on behind the saved index's back: it catches up (nothing to apply)
    new_gen = other.store.models.bump_generation(row2.id)
    third = Library(tmp_path / "lib", device="cpu")
    _, row3 = third.model(MODEL)
    vi3 = third.vector_index(row3)
    assert (vi3.reason, vi3.rebuilt, vi3.generation, vi3.ntotal) == (
        "caught up",
        False,
        new_gen,
        12,
    )
    for x in (lib, other, third):
        x.close()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_an_older_saved_index_catches_up_by_delta(tmp_path, photos, kind):
    import shutil

    lib = Library(tmp_path / "lib", device="cpu", index_kind=kind)
    lib.index([photos / "home"], model=MODEL, vectors=True)
    _, row = lib.model(MODEL)
    cache = VectorIndex.file(lib.index_dir, row.fingerprint)
    ipath, mpath = cache.path, cache.meta_path
    shutil.copy(ipath, tmp_path / "old.faiss")
    shutil.copy(mpath, tmp_path / "old.json")

    def reopen_with_old_index():
        shutil.copy(tmp_path / "old.faiss", ipath)
        shutil.copy(tmp_path / "old.json", mpath)
        fresh = Library(tmp_path / "lib", device="cpu", index_kind=kind)
        _, r = fresh.model(MODEL)
        return fresh, fresh.vector_index(r)

    lib.index([photos / "trips"], model=MODEL, vectors=True)  # only additions since the old index
    other, vi = reopen_with_old_index()
    assert (vi.reason, vi.rebuilt, vi.ntotal) == ("caught up", False, 12)
    q = photos / "trips" / "obj3_0.jpg"
    assert [h.path for h in other.search(q, k=11).hits] == [
        h.path for h in lib.search(q, k=11).hits
    ]
    other.close()

    (photos / "home" / "obj1_2.jpg").unlink()  # a removal since the old index
    lib.index([photos / "home"], model=MODEL, vectors=True)
    other, vi = reopen_with_old_index()
    assert vi.ntotal == 11
    if kind == "flat":
        assert (vi.reason, vi.rebuilt) == ("caught up", False)
    else:  # an HNSW graph cannot drop points
        assert (vi.reason, vi.rebuilt) == ("stale", True)
    assert str(photos / "home" / "obj1_2.jpg") not in [h.path for h in other.search(q, k=20).hits]
    other.close()
    lib.close()
