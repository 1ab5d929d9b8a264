"""SIFT through PyTorch (kornia), the GPU path of indexing, run here on the CPU: its features
read as OpenCV's do (same conventions, same descriptor layout), its codes are ``encode``'s,
and ``TorchWorkers`` index a library that a search (described with OpenCV) finds its way in."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

pytest.importorskip("kornia")

from engine.match.asmk import encode
from engine.match.codebook import default_codebook
from engine.match.describe import DEFAULT, LocalFeatures, describe, rootsift
from engine.match.describers import features_device, open_describers
from engine.match.torch_sift import TorchSift
from engine.match.torch_workers import TorchWorkers
from engine.match.workers import LocalWorkers
from tests.helpers import ROOT

DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def book():
    return default_codebook()


def _gray(name: str) -> np.ndarray:
    d = describe(DATA / name, sift_later=True)
    return d.sift_input[0]


def test_features_follow_opencvs_conventions_on_real_photos(book):
    grays = [_gray("building.jpg"), _gray("fruits.jpg")]
    ours = TorchSift(book, device="cpu").features(grays)
    same_place = cosines = 0
    ratios, turns, cos = [], [], []
    for g, f in zip(grays, ours, strict=True):
        assert 0 < len(f) <= DEFAULT.max_features
        assert np.allclose(np.linalg.norm(f.desc, axis=1), 1.0, atol=1e-3)  # RootSIFT
        kps, d = cv2.SIFT_create(nfeatures=1000, contrastThreshold=0.01).detectAndCompute(g, None)
        cv_kp = np.array([(k.pt[0], k.pt[1], k.size, k.angle) for k in kps], np.float32)
        dist = ((f.xy[:, None] - cv_kp[None, :, :2]) ** 2).sum(-1)
        j = dist.argmin(1)
        close = dist[np.arange(len(f)), j] < 1.0
        same_place += close.sum() / len(f)
        ratios += list(f.kp[close, 2] / cv_kp[j[close], 2])
        turn = np.abs((f.kp[close, 3] - cv_kp[j[close], 3] + 180) % 360 - 180)
        turns += list(turn)
        same = turn < 5
        cos += list((f.desc[close][same] * rootsift(d)[j[close]][same]).sum(1))
        cosines += 1
    assert same_place / cosines > 0.4  # measured 0.6 on the benchmark's photos
    assert abs(np.median(ratios) - 1.0) < 0.15  # sizes in OpenCV's units
    assert np.median(turns) < 5  # angles in OpenCV's direction
    assert np.median(cos) > 0.95  # OpenCV's descriptor layout


def test_batches_give_each_image_its_own_features(book):
    a, b = _gray("building.jpg"), _gray("messi5.jpg")
    sift = TorchSift(book, device="cpu", batch=32)
    assert TorchSift(book, device="cpu").batch == 1  # on a CPU one at a time
    alone = sift.features([a])[0]
    mixed = sift.features([a, b, a])  # two sizes: two batches, one of two images
    assert len(mixed[0]) == len(mixed[2]) == len(alone)
    assert np.allclose(mixed[0].kp, alone.kp, atol=1e-2)
    assert np.allclose(mixed[2].desc, alone.desc, atol=1e-4)
    assert not np.allclose(mixed[1].kp[:10], alone.kp[:10])


def test_the_whole_batch_at_once_gives_kornias_own_features(book):
    """``sift_batch`` (every image through each stage together) against kornia's ``forward``
    (an image at a time inside): the same keypoints, orientations and descriptors, for images
    with many keypoints, a few, and none (a flat grey one), side by side in one batch."""
    import torch

    from engine.match.torch_sift_batch import sift_batch

    h, w = 180, 240
    busy = [_gray(n)[:h, :w] for n in ("building.jpg", "fruits.jpg", "messi5.jpg")]
    few = cv2.GaussianBlur(busy[1], (0, 0), 6)
    grays = [*busy, few, np.full((h, w), 128, np.uint8)]
    x = torch.from_numpy(np.stack(grays)).unsqueeze(1).float() / 255
    sift = TorchSift(book, device="cpu")._sift
    with torch.inference_mode():
        theirs = sift(x)
        ours = sift_batch(sift, x, chunk=64)  # several chunks per octave
    filled = []
    for i in range(len(grays)):
        a_order = torch.argsort(theirs[1][i], descending=True, stable=True)
        b_order = torch.argsort(ours[1][i], descending=True, stable=True)
        for a, b in zip(theirs, ours, strict=True):
            assert torch.allclose(a[i][a_order], b[i][b_order], atol=1e-4)
        filled.append(int((ours[1][i] > 0).sum()))
    assert min(filled[:3]) > 100 and 0 < filled[3] < filled[1] and filled[4] == 0
    features = TorchSift(book, device="cpu", batch=8).features(grays)
    assert [len(f) for f in features] == filled
    kornias = TorchSift(book, device="cpu", batch=8, whole_batch=False).features(grays)
    assert np.allclose(features[0].kp[:, :2], kornias[0].kp[:, :2], atol=1e-3)
    padded = TorchSift(book, device="cpu", batch=8)
    padded.pad_batches = True  # as on a GPU: three images go as four, the fourth blank
    for f, g in zip(padded.features(grays[:3]), features, strict=False):
        assert np.allclose(f.kp, g.kp, atol=1e-3) and np.allclose(f.desc, g.desc, atol=1e-4)


def test_codes_are_encodes_codes(book):
    sift = TorchSift(book, device="cpu")
    f = sift.features([_gray("fruits.jpg")])[0]
    (ours,) = sift.encode([f])
    small = LocalFeatures(f.kp[:0], f.desc[:0])
    theirs = encode(f, book)
    # the device assigns exactly; the host through approximate cells for a large codebook
    agree = (ours.fwords == theirs.fwords).mean()
    assert agree > 0.9
    assert np.array_equal(ours.kp, theirs.kp)
    words = np.intersect1d(ours.words, theirs.words)
    a = ours.bits[np.searchsorted(ours.words, words)]
    b = theirs.bits[np.searchsorted(theirs.words, words)]
    assert (a == b).mean() > 0.9
    assert [len(c) for c in sift.encode([small, f, small])] == [0, len(f), 0]


def test_where_features_run(monkeypatch):
    from engine.errors import ConfigError

    monkeypatch.setenv("VISUAL_SEARCH_FEATURES_ON", "cpu")
    assert features_device() == "cpu"
    assert features_device("torch-cpu") == "torch-cpu"
    monkeypatch.delenv("VISUAL_SEARCH_FEATURES_ON")
    import torch

    assert features_device() == "cpu"  # the default, GPU or not: it measured faster
    with pytest.raises(ConfigError, match="one of cpu, cuda, torch-cpu"):
        features_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            features_device("cuda")


def test_torch_workers_describe_as_local_workers_do(book, tmp_path):
    paths = [DATA / n for n in ("building.jpg", "fruits.jpg", "messi5.jpg")]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not a photo")
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.full((8, 8), 128, np.uint8))
    with open_describers(book, workers=1, on="torch-cpu") as w:
        assert isinstance(w, TorchWorkers)
        got = [w.submit(p).result() for p in [*paths, bad, tiny]]
        no_local = w.submit(paths[0], image_size=64, local=False).result()
    with LocalWorkers(book, 1) as w:
        ref = [w.submit(p).result() for p in paths]
    for d, r in zip(got[:3], ref, strict=True):
        assert d.original_size == r.original_size and d.phash == r.phash
        assert len(d.code) > 200 and d.feats is None and d.sift_input is None
        overlap = len(np.intersect1d(d.code.words, r.code.words)) / len(r.code.words)
        assert overlap > 0.2  # the same photo: many words in common
    from engine.errors import BadImageError

    assert isinstance(got[3], BadImageError) and "image format" in str(got[3])
    assert len(got[4].code) == 0  # too small for features: an empty code, as with OpenCV
    assert no_local.code is None and no_local.pixels.shape[2] == 3


def test_a_library_indexed_on_the_torch_path_is_searched_with_opencv(tmp_path, monkeypatch):
    from engine.library import Library

    photos = tmp_path / "photos"
    photos.mkdir()
    for n in ("building.jpg", "fruits.jpg", "messi5.jpg", "box.png"):
        shutil.copy(DATA / n, photos / n)
    monkeypatch.setenv("VISUAL_SEARCH_FEATURES_ON", "torch-cpu")
    lib = Library(tmp_path / "lib")
    s = lib.index([photos])
    assert s.indexed == 4 and s.failed == 0
    monkeypatch.setenv("VISUAL_SEARCH_FEATURES_ON", "cpu")  # the query: OpenCV, in-process
    img = cv2.imread(str(DATA / "building.jpg"))
    h, w = img.shape[:2]
    crop = cv2.rotate(img[h // 8 : h - h // 8, w // 8 : w - w // 8], cv2.ROTATE_90_CLOCKWISE)
    cv2.imwrite(str(tmp_path / "query.jpg"), crop)
    hits = lib.search(tmp_path / "query.jpg", k=4).hits
    assert str(hits[0].path).endswith("building.jpg")
    assert hits[0].verified
    assert not any(h.verified for h in hits[1:])
    lib.close()
