"""A library without FAISS (an optional extra): NumPy's exact index (``ArrayIndex``) answers as
FAISS's flat index does, is saved as ``vectors-<fingerprint>.npz`` with the same cache policy,
and the command line in a process where ``import faiss`` fails indexes, searches and reports."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from engine import faiss_device
from engine.errors import NeedsFaiss
from engine.library import Library
from engine.library.index.arrays import ArrayIndex
from engine.library.index.vector_index import NO_HNSW, VectorIndex
from tests.helpers import MODEL, ROOT, run_python

SCRIPT = """
import contextlib, io, json, sys
if sys.argv[1] == "block":
    sys.modules["faiss"] = None  # importing it now fails, as on an install without it
from engine.cli import main
runs = []
for argv in json.loads(sys.argv[2]):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv)
    runs.append({"rc": rc, "stdout": buf.getvalue()})
from engine import faiss_device
loaded = sys.modules.get("faiss") is not None
info = {"gpus": faiss_device.gpu_count(), "version": faiss_device.describe()["faiss_version"]}
print(json.dumps({"runs": runs, "faiss": loaded, **info}))
"""


def _cli(commands, block: bool):
    out, proc = run_python(SCRIPT, "block" if block else "faiss", json.dumps(commands))
    assert [r["rc"] for r in out["runs"]] == [0] * len(commands), proc.stderr[-3000:]
    assert out["faiss"] is not block
    assert out["gpus"] == 0 and (out["version"] is None) is block
    return [r["stdout"] for r in out["runs"]]


def _ranking(stdout: str) -> list[tuple[str, float]]:
    found = json.loads(stdout)
    return [(r["path"], round(r["global_score"] or 0.0, 4)) for r in found["results"]]


@pytest.fixture
def no_faiss(monkeypatch):
    """The engine as on an install without FAISS (in this process)."""
    monkeypatch.setattr(faiss_device, "available", lambda: False)


def _vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_command_line_without_faiss_indexes_searches_and_reports(tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(ROOT / "resources" / "samples", photos)
    lib = str(tmp_path / "lib")
    query = str(photos / "obj00_0.jpg")
    search = ["search", query, "--library", lib, "--json"]
    glob = [*search, "--pipeline", "global"]
    status = ["status", "--library", lib, "--json"]
    _, both, globally, st = _cli(
        [["index", str(photos), "--library", lib, "--vectors"], search, glob, status], True
    )
    best = json.loads(both)["results"][0]
    assert best["path"].endswith("obj00_1.jpg") and best["verified"] and best["global_score"]
    assert _ranking(globally)[0][0].endswith("obj00_1.jpg")
    st = json.loads(st)
    (model,) = st["models"]
    assert (model["index"], model["index_state"]) == ("flat", "current")
    index_dir = tmp_path / "lib" / "index"
    npz = list(index_dir.glob("vectors-*.npz"))
    assert len(npz) == 1 and not list(index_dir.glob("*.faiss"))
    assert st["bytes"]["index"] == npz[0].stat().st_size
    # the same library searched with FAISS (which builds its own cache): the same rankings
    with_faiss = _cli([search, glob], False)
    assert _ranking(with_faiss[0]) == _ranking(both)
    assert _ranking(with_faiss[1]) == _ranking(globally)
    assert list(index_dir.glob("*.faiss"))


def test_numpy_index_answers_like_faiss_flat(monkeypatch):
    pytest.importorskip("faiss")
    xb, xq = _vectors(3000, 32), _vectors(40, 32, seed=1)
    ids = np.random.default_rng(2).permutation(10**6)[:3000].astype(np.int64)
    theirs = VectorIndex.empty(32, "flat")
    theirs.add(ids, xb)
    assert not theirs.numpy
    monkeypatch.setattr(faiss_device, "available", lambda: False)
    ours = VectorIndex.empty(32, "flat")
    assert ours.numpy and ours.kind == "flat" and ours.ntotal == 0
    for part in np.array_split(np.arange(3000), 3):  # added in batches, as a build does
        ours.add(ids[part], xb[part])
    np.testing.assert_array_equal(ours.ids(), theirs.ids())
    for k in (1, 10, 5000):  # 5000: clamped to ntotal
        D, I = ours.search(xq, k)
        Dt, It = theirs.search(xq, k)
        np.testing.assert_allclose(D, Dt, rtol=1e-5, atol=1e-6)
        if k < 5000:
            np.testing.assert_array_equal(I, It)
        else:  # every vector, in the same order but for a few float ties
            np.testing.assert_array_equal(np.sort(I, axis=1), np.sort(It, axis=1))
            assert np.not_equal(I, It).mean() < 1e-3
    sub = ids[::97]  # 31 ids: fewer than k, padded with -1
    D, I = ours.search(xq, 40, sub)
    Dt, It = theirs.search(xq, 40, sub)
    np.testing.assert_array_equal(I, It)
    assert (I[:, 31:] == -1).all() and set(I[:, :31].ravel()) == set(sub)
    np.testing.assert_array_equal(ours.search(xq[:1], 3, np.array([-7]))[1], [[-1, -1, -1]])


def test_array_index_removes_saves_and_refuses_pickles(tmp_path):
    xb = _vectors(50, 8)
    a = ArrayIndex(8)
    a.add_with_ids(xb, np.arange(100, 150))
    assert a.remove_ids(np.array([100, 149, 7])) == 2 and a.ntotal == 48
    a.write(str(tmp_path / "a.npz"))
    back = ArrayIndex.read(str(tmp_path / "a.npz"))
    np.testing.assert_array_equal(back.ids(), a.ids())
    np.testing.assert_array_equal(back.search(xb[:5], 4)[1], a.search(xb[:5], 4)[1])
    np.savez(tmp_path / "p.npz", ids=np.array([{"x": 1}], dtype=object), vectors=xb[:1])
    with pytest.raises(ValueError):
        ArrayIndex.read(str(tmp_path / "p.npz"))  # allow_pickle=False
    with pytest.raises(ValueError, match="size mismatch"):
        np.savez(tmp_path / "m.npz", ids=np.arange(3), vectors=xb[:2])
        ArrayIndex.read(str(tmp_path / "m.npz"))
    with pytest.raises(ValueError):
        a.add_with_ids(xb[:2], np.arange(3))


def test_without_faiss_every_kind_is_exact(no_faiss):
    assert VectorIndex.choose_kind("auto", 10**7) == "flat"
    assert VectorIndex.choose_kind("hnsw", 10) == "flat"
    with pytest.raises(ValueError):
        VectorIndex.choose_kind("ivf", 1)
    with pytest.raises(NeedsFaiss, match=r"pip install 'visual-search\[faiss\]'"):
        VectorIndex.empty(8, "hnsw")
    assert "pip install 'visual-search[faiss]'" in NO_HNSW


def test_a_library_without_faiss_caches_catches_up_and_rebuilds(tmp_path, photos, monkeypatch):
    lib = Library(tmp_path / "lib", device="cpu")
    lib.index([photos / "trips"], model=MODEL, vectors=True)
    q = photos / "trips" / "obj3_0.jpg"
    want = [(h.path, round(h.score, 5)) for h in lib.search(q, k=8).hits]
    lib.close()
    monkeypatch.setattr(faiss_device, "available", lambda: False)
    lib = Library(tmp_path / "lib", device="cpu", index_kind="hnsw")
    assert [(h.path, round(h.score, 5)) for h in lib.search(q, k=8).hits] == want
    _, row = lib.model(MODEL)
    vi = lib.vector_index(row)
    assert (vi.numpy, vi.kind, vi.rebuilt, vi.info().note) == (True, "flat", True, NO_HNSW)
    cache = VectorIndex.file(lib.index_dir, row.fingerprint)
    assert cache.path.name == f"vectors-{row.fingerprint}.npz" and cache.path.exists()
    old = cache.path.read_bytes(), cache.meta_path.read_bytes()
    lib.index([photos / "home"], model=MODEL, vectors=True)  # additions
    (photos / "trips" / "obj1_0.jpg").unlink()
    lib.index([photos / "trips"], model=MODEL, vectors=True)  # and a removal
    now = [h.path for h in lib.search(q, k=20).hits]
    assert lib.vector_index(row).ntotal == 11 and str(photos / "trips" / "obj1_0.jpg") not in now
    lib.close()
    cache.path.write_bytes(old[0])  # an older saved index: caught up by delta
    cache.meta_path.write_bytes(old[1])
    lib = Library(tmp_path / "lib", device="cpu")
    vi = lib.vector_index(lib.model(MODEL)[1])
    assert (vi.reason, vi.rebuilt, vi.ntotal) == ("caught up", False, 11)
    assert [h.path for h in lib.search(q, k=20).hits] == now
    lib.close()
    cache.path.write_bytes(cache.path.read_bytes()[:100])  # damaged: rebuilt
    lib = Library(tmp_path / "lib", device="cpu")
    assert VectorIndex.load(lib.index_dir, row.fingerprint)[0] is None
    vi = lib.vector_index(lib.model(MODEL)[1])
    assert vi.rebuilt and vi.ntotal == 11
    both = [cache.path, *lib.index_dir.glob("*.faiss")]  # FAISS's, saved before, stays
    assert len(both) == 2
    assert lib.status()["bytes"]["index"] == sum(f.stat().st_size for f in both)
    lib.close()
