"""FAISS on the GPU where it pays: the device choice, k-means, and the exact-search copy (CPU)."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from engine import faiss_device
from engine.library import Library
from engine.library.index.vector_index import VectorIndex
from tests.helpers import MODEL


@pytest.fixture
def fake_gpu(monkeypatch):
    """faiss "sees" one GPU whose transfer is a CPU clone: the GPU branch runs on this CPU."""
    moved = []

    def transfer(res, device, index):
        moved.append(type(index).__name__)
        return faiss.clone_index(index)

    monkeypatch.delenv(faiss_device.ENV, raising=False)
    # faiss-cpu builds lack some of these names: they are added, as a GPU build has them
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1, raising=False)
    monkeypatch.setattr(faiss, "StandardGpuResources", lambda: object(), raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", transfer, raising=False)
    monkeypatch.setattr(faiss_device, "_resources", None)
    monkeypatch.setattr(faiss_device, "_used", False)
    return moved


def test_env_override_switches_the_gpu_off(fake_gpu, monkeypatch):
    assert faiss_device.gpu_count() == 1 and faiss_device.want_gpu("auto")
    monkeypatch.setenv(faiss_device.ENV, "0")
    assert faiss_device.gpu_count() == 0
    assert not faiss_device.want_gpu("auto") and not faiss_device.want_gpu(True)
    index = faiss.IndexFlatL2(8)
    assert faiss_device.to_device(index, True) is index and not fake_gpu
    with pytest.raises(ValueError):
        faiss_device.want_gpu("cuda")


def test_no_gpu_here():
    assert faiss_device.gpu_count() == 0
    index = faiss.IndexFlatIP(8)
    assert faiss_device.to_device(index, False) is index
    assert faiss_device.to_device(index, "auto") is index  # no GPU: the CPU path


def test_gpu_branch_is_the_cpu_branch_plus_a_transfer(fake_gpu):
    index = faiss.IndexFlatL2(8)
    assert faiss_device.to_device(index, False) is index and not fake_gpu
    assert faiss_device.to_device(index, "auto") is not index and fake_gpu == ["IndexFlatL2"]
    assert faiss_device.resources() is faiss_device.resources()  # made once
    x, _ = _blobs()
    np.testing.assert_allclose(
        faiss_device.kmeans(x, 4, seed=3, use_gpu=True),
        faiss_device.kmeans(x, 4, seed=3, use_gpu=False),
        rtol=1e-5,
    )
    assert faiss_device.describe()["gpu_used"]


def _blobs(seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.array([[10, 0, 0, 0, 0, 0, 0, 0], [0, 10, 0, 0, 0, 0, 0, 0]], np.float32)
    centres = np.concatenate([centres, -centres])  # 4 well-separated clusters in 8-d
    labels = rng.integers(0, 4, 2000)
    x = centres[labels] + 0.3 * rng.standard_normal((2000, 8)).astype(np.float32)
    return x.astype(np.float32), centres


def test_kmeans_on_the_cpu_recovers_separated_clusters():
    x, centres = _blobs()
    # k-means++ seeding: a random one may start two centroids in one cluster, and Lloyd's
    # iterations never move one across (the codebook's thousands of words do not mind)
    plus = faiss.ClusteringInitMethod_KMEANS_PLUS_PLUS
    c = faiss_device.kmeans(x, 4, niter=20, seed=0, use_gpu="auto", init_method=plus)
    assert c.shape == (4, 8) and c.dtype == np.float32
    nearest = np.linalg.norm(centres[:, None] - c[None], axis=2)
    assert sorted(nearest.argmin(1)) == [0, 1, 2, 3]  # one centroid per cluster
    assert nearest.min(1).max() < 0.1


def test_describe_is_json_and_sees_no_gpu():
    d = json.loads(json.dumps(faiss_device.describe()))
    assert d["gpus"] == 0 and d["faiss_version"] == faiss.__version__
    assert d["torch_cuda"] is False  # torch is imported by conftest: both load in one process


def test_exact_copy_search_matches_the_id_map_search():
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((3000, 32)).astype(np.float32)
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    ids = rng.permutation(10**6)[:3000].astype(np.int64)
    plain, copy = VectorIndex.empty(32, "flat"), VectorIndex.empty(32, "flat")
    plain.add(ids, xb)
    copy.add(ids, xb)
    copy.exact_copy(False)
    assert copy._exact is not None and not copy.on_gpu
    xq = xb[:50] + 0.05
    for k in (1, 10, 5000):  # 5000: clamped to ntotal
        Dp, Ip = plain.search(xq, k)
        Dc, Ic = copy.search(xq, k)
        np.testing.assert_array_equal(Ip, Ic)
        np.testing.assert_allclose(Dp, Dc, rtol=1e-6)
    sub = ids[::7]
    np.testing.assert_array_equal(plain.search(xq, 5, sub)[1], copy.search(xq, 5, sub)[1])
    copy.add(np.array([-5], np.int64), xq[:1])  # a change drops the copy
    assert copy._exact is None and copy.search(xq[:1], 1)[1][0, 0] == -5


def test_fake_gpu_copy_searches_like_the_cpu(fake_gpu):
    rng = np.random.default_rng(1)
    xb = rng.standard_normal((500, 16)).astype(np.float32)
    vi = VectorIndex.empty(16, "flat")
    vi.add(np.arange(1000, 1500), xb)
    want = vi.search(xb[:20], 7)[1]
    vi.to_gpu()
    assert fake_gpu == ["IndexFlatIP"]
    np.testing.assert_array_equal(vi.search(xb[:20], 7)[1], want)


def test_large_library_path_gives_the_small_library_ids(tmp_path, photos):
    lib = Library(tmp_path / "lib", device="cpu", index_kind="flat")
    lib.index([photos], model=MODEL, vectors=True)
    _, row = lib.model(MODEL)
    small = VectorIndex.open(lib.store, row, lib.index_dir, "flat", save=False)
    large = VectorIndex.open(lib.store, row, lib.index_dir, "flat", save=False, gpu_min=1)
    assert small._exact is None and large._exact is not None
    assert not large.on_gpu and not large.info().on_gpu
    xq = np.stack([x for _, xb in lib.store.vectors.iter_vectors(row.id) for x in xb])
    for k in (1, 5, 12):
        Ds, Is = small.search(xq, k)
        Dl, Il = large.search(xq, k)
        np.testing.assert_array_equal(Is, Il)
        np.testing.assert_allclose(Ds, Dl, rtol=1e-6)
    a = [h.path for h in lib.search(photos / "home" / "obj1_2.jpg", k=5).hits]
    lib.caches._vectors[row.fingerprint] = large  # the library searching through the large path
    assert [h.path for h in lib.search(photos / "home" / "obj1_2.jpg", k=5).hits] == a
    lib.close()


def test_auto_stays_exact_where_faiss_has_a_gpu(fake_gpu, monkeypatch):
    from engine.library.index.vector_index import APPROX_THRESHOLD, GPU_EXACT_MAX, VectorIndex

    assert VectorIndex.choose_kind("auto", APPROX_THRESHOLD) == "flat"
    assert VectorIndex.choose_kind("auto", GPU_EXACT_MAX) == "hnsw"
    monkeypatch.setenv(faiss_device.ENV, "0")
    assert VectorIndex.choose_kind("auto", APPROX_THRESHOLD) == "hnsw"
    assert VectorIndex.choose_kind("auto", APPROX_THRESHOLD - 1) == "flat"
