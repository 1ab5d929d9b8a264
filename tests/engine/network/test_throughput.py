"""Throughput paths that change no result: photos of mixed aspect share a batch (bucketing),
the indexer runs the network in batches, JPEGs decode on the device (run here on the CPU
through the same code), decoding workers follow the cores the process may use."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cores import available_cores
from engine.errors import BadImageError
from engine.network.extract import Extractor, bucket_shape
from engine.photo.decode import load_photo
from engine.photo.device_decode import DeviceDecoder, upright
from tests.helpers import MODEL, save_with_orientation, smooth_photo, truncated_jpeg


def _forward_calls(ex: Extractor) -> list[tuple[int, ...]]:
    """The input shapes the network is called with, recorded from now on."""
    calls: list[tuple[int, ...]] = []
    ex.model.register_forward_pre_hook(lambda m, args: calls.append(tuple(args[0].shape)))
    return calls


def _cos(a, b) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_bucket_shapes_round_up_to_the_stride():
    assert bucket_shape(384, 512) == (384, 512)
    assert bucket_shape(341, 512) == (352, 512)  # 3:2 pads 11 rows
    assert bucket_shape(512, 341) == (512, 352)
    assert bucket_shape(50, 60) == (64, 64)
    for h in range(1, 1100, 7):
        bh, _ = bucket_shape(h, 512)
        assert bh % 32 == 0 and 0 <= bh - h < 32


def test_mixed_aspects_share_one_batch_and_keep_their_descriptors(tiny_models):
    net = tiny_models["gem"]
    shapes = [(384, 512), (372, 512), (353, 512), (512, 384)]
    photos = [
        torch.from_numpy(np.array(smooth_photo(w, h, seed=i))).permute(2, 0, 1).contiguous()
        for i, (h, w) in enumerate(shapes)
    ]
    from engine.network.extract import Prepared

    prepared = [Prepared(p, (p.shape[2], p.shape[1]), None, f"p{i}") for i, p in enumerate(photos)]
    exact = Extractor(net, device="cpu", precision="fp32", batch_size=4, bucket=False)
    calls = _forward_calls(exact)
    ref = exact.run(prepared)
    assert len(calls) == 4  # every shape alone
    bucketed = Extractor(net, device="cpu", precision="fp32", batch_size=4, bucket=True)
    calls = _forward_calls(bucketed)
    out = bucketed.run(prepared)
    assert sorted(c[0] for c in calls) == [1, 3]  # three landscapes together, one portrait
    assert sorted(c[2:] for c in calls) == [(384, 512), (512, 384)]
    assert [o.source for o in out] == ["p0", "p1", "p2", "p3"]
    assert out[1].input_size == (512, 372)  # the photo's own size, not the padded one
    for a, b in zip(ref, out, strict=True):
        assert a.attention.shape == b.attention.shape  # the padding adds no feature cell
        assert _cos(a.descriptor, b.descriptor) > 0.98


def test_a_batch_gives_the_descriptors_of_one_photo_at_a_time(tiny_models, photos):
    paths = sorted(photos.rglob("*.jpg"))[:6]
    one = Extractor(tiny_models["gem"], device="cpu", precision="fp32", batch_size=1)
    many = Extractor(tiny_models["gem"], device="cpu", precision="fp32", batch_size=6)
    a = [r.descriptor for _, r in one.extract(paths)]
    b = [r.descriptor for _, r in many.extract(paths)]
    np.testing.assert_allclose(np.stack(a), np.stack(b), atol=2e-4)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_device_decoding_turns_photos_upright_like_pillow(tmp_path, orientation):
    up = smooth_photo(160, 120, seed=orientation)
    path = tmp_path / f"o{orientation}.jpg"
    save_with_orientation(up, orientation, path)
    with DeviceDecoder("cpu", image_size=None) as dec:
        (d,) = dec.decode([path])
    assert d is not None and d.original_size == (160, 120)
    ref = np.asarray(load_photo(path, None).image).astype(np.int16)
    got = d.pixels.permute(1, 2, 0).numpy().astype(np.int16)
    assert got.shape == ref.shape
    assert np.abs(got - ref).mean() < 2.0


def test_upright_matches_every_exif_transform():
    x = torch.arange(2 * 3).view(1, 2, 3)
    from tests.helpers import UPRIGHT_OP

    img = Image.fromarray(x[0].numpy().astype(np.uint8))
    for o, op in UPRIGHT_OP.items():
        want = np.asarray(img.transpose(op))
        assert np.array_equal(upright(x, o)[0].numpy(), want), o


def test_files_the_device_does_not_decode_go_to_pillow(tmp_path, scene_jpeg):
    src, _ = scene_jpeg
    png = tmp_path / "a.png"
    Image.open(src).save(png)
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (64, 48), (10, 200, 30, 0)).save(cmyk)
    cut = tmp_path / "cut.jpg"
    truncated_jpeg(cut, src)
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    big = tmp_path / "big.jpg"
    smooth_photo(400, 300).save(big)
    with DeviceDecoder("cpu", image_size=128, max_pixels=100_000) as dec:
        out = dec.decode([src, png, cmyk, cut, text, big, tmp_path / "missing.jpg"])
    assert out[0] is not None and max(out[0].pixels.shape[-2:]) == 128
    assert out[1:] == [None] * 6


def test_extraction_with_device_decoding_agrees_with_pillow(tmp_path, tiny_models, photos):
    paths = sorted(photos.rglob("*.jpg"))[:4]
    bad = tmp_path / "cut.jpg"
    truncated_jpeg(bad, paths[0])
    png = tmp_path / "p.png"
    Image.open(paths[1]).save(png)
    sources = [*paths, bad, png]
    net = tiny_models["gem"]
    cpu = list(Extractor(net, device="cpu", device_decode=False).extract(sources))
    dev = list(Extractor(net, device="cpu", device_decode=True, batch_size=2).extract(sources))
    assert [i for i, _ in dev] == list(range(len(sources)))
    assert isinstance(dev[4][1], BadImageError) and str(dev[4][1]) == str(cpu[4][1])
    for (_, a), (_, b) in zip(cpu[:4] + cpu[5:], dev[:4] + dev[5:], strict=True):
        assert a.original_size == b.original_size
        assert _cos(a.descriptor, b.descriptor) > 0.99


def _vectors_by_path(lib, row) -> dict[bytes, np.ndarray]:
    rows = {}
    for fid, _ in lib.store.files.folders():
        rows.update(lib.store.files.files_in_folder(fid))
    vecs = lib.store.vectors.vectors_for(row.id, [r.id for r in rows.values()])
    return {path: vecs[r.id] for path, r in rows.items()}


def test_the_indexer_runs_the_network_in_batches(tmp_path, photos):
    from engine.library import Library

    with Library(tmp_path / "one", device="cpu") as lib:
        lib.index([photos], model=MODEL, vectors=True)
        one = _vectors_by_path(lib, lib.model(MODEL)[1])
    with Library(tmp_path / "batched", device="cpu") as lib:
        ex, row = lib.model(MODEL)
        ex.batch_size = 4
        calls = _forward_calls(ex)
        s = lib.index([photos], model=MODEL, vectors=True)
        assert s.indexed == 12
        assert len(calls) < 12 and max(c[0] for c in calls) == 4
        many = _vectors_by_path(lib, row)
    assert one.keys() == many.keys() and len(one) == 12
    for path, v in one.items():
        assert _cos(v, many[path]) > 0.999, path


def test_decoding_workers_follow_the_cores_this_process_may_use():
    n = available_cores()
    assert 1 <= n <= (os.cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        assert n == len(os.sched_getaffinity(0))


def test_workers_default_to_the_cores_of_the_affinity_mask(monkeypatch, tiny_models):
    """A process limited to one core (taskset, a container) starts one SIFT process and one
    decoding thread, not one per core of the machine."""
    from concurrent.futures import ThreadPoolExecutor

    from engine.match.codebook import default_codebook
    from engine.match.workers import LocalWorkers

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert available_cores() == 1
    with LocalWorkers(default_codebook()) as w:
        assert w.workers == 1
    threads = []
    real = ThreadPoolExecutor.__init__

    def spy(self, max_workers=None, *a, **k):
        threads.append(max_workers)
        real(self, max_workers, *a, **k)

    monkeypatch.setattr(ThreadPoolExecutor, "__init__", spy)
    ex = Extractor(tiny_models["gem"], device="cpu")
    list(ex.extract([]))
    assert threads == [1]
