"""Extraction: batching, multi-scale, crops, precision, bad photos in a batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import BadImageError, ConfigError
from engine.network.extract import Extractor
from engine.network.models import list_models
from engine.network.runtime import resolve_device, resolve_precision
from engine.training.generator import render_scene


def _scenes(tmp_path, n, size=(160, 120)):
    paths = []
    for i in range(n):
        img, _ = render_scene([i % 3], seed=100 + i, size=size)
        p = tmp_path / f"s{i}.jpg"
        img.save(p, quality=92)
        paths.append(p)
    return paths


def _cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("arch", list_models())
def test_descriptor_is_unit_float32_and_attention_in_range(tiny_models, scene_jpeg, arch):
    ex = Extractor(tiny_models[arch], device="cpu", precision="fp32", scales=(1.0,))
    path, _ = scene_jpeg
    out = ex.extract_one(path, with_features=True)
    assert out.descriptor.dtype == np.float32 and out.descriptor.shape == (ex.dim,)
    assert np.linalg.norm(out.descriptor) == pytest.approx(1.0, abs=1e-5)
    assert out.attention.min() >= 0 and out.attention.max() <= 1
    assert out.input_size == (128, 96)  # long side = image_size of the tiny models
    assert out.features.shape == (tiny_models[arch].feature_dim, 3, 4)


@pytest.mark.parametrize("arch", list_models())
def test_bf16_autocast_stays_within_cosine_099_of_fp32(tiny_models, tmp_path, arch):
    """The CPU default uses bf16 only because descriptors stay this close to fp32."""
    paths = _scenes(tmp_path, 3, size=(320, 240))
    fp32 = Extractor(tiny_models[arch], device="cpu", precision="fp32", image_size=224)
    bf16 = Extractor(tiny_models[arch], device="cpu", precision="bf16", image_size=224)
    for p in paths:
        c = _cos(fp32.extract_one(p).descriptor, bf16.extract_one(p).descriptor)
        assert c >= 0.99, (p.name, c)


def test_auto_precision_follows_cpu_capability(monkeypatch):
    from engine.network import runtime

    runtime.cpu_has_native_bf16.cache_clear()
    monkeypatch.setenv("VISUAL_SEARCH_NO_BF16", "1")
    assert resolve_precision("auto", torch.device("cpu")).name == "fp32"
    runtime.cpu_has_native_bf16.cache_clear()
    monkeypatch.delenv("VISUAL_SEARCH_NO_BF16")
    native = runtime.cpu_has_native_bf16()
    assert resolve_precision("auto", torch.device("cpu")).name == ("bf16" if native else "fp32")
    with pytest.raises(ConfigError, match="fp16"):
        resolve_precision("fp16", torch.device("cpu"))


def test_device_choice():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ConfigError):
        resolve_device("tpu")


def test_batched_equals_one_by_one(tiny_models, tmp_path):
    paths = _scenes(tmp_path, 4)
    one = Extractor(tiny_models["cider"], device="cpu", precision="fp32", batch_size=1)
    four = Extractor(tiny_models["cider"], device="cpu", precision="fp32", batch_size=4)
    a = np.stack([one.extract_one(p).descriptor for p in paths])
    b = np.stack([e.descriptor for _, e in four.extract(paths)])
    assert np.allclose(a, b, atol=1e-4)


def test_multiscale_is_the_normalised_sum_of_unit_descriptors(tiny_models, scene_jpeg):
    path, _ = scene_jpeg
    m = tiny_models["gem"]
    scales = (0.5, 1.0, 1.4142)
    multi = Extractor(m, device="cpu", precision="fp32", scales=scales).extract_one(path)
    parts = [
        Extractor(m, device="cpu", precision="fp32", scales=(s,)).extract_one(path).descriptor
        for s in scales
    ]
    s = np.sum(parts, axis=0)
    assert np.allclose(multi.descriptor, s / np.linalg.norm(s), atol=1e-5)


def test_ugalr_uses_five_scales_by_default(tiny_models):
    assert Extractor(tiny_models["ugalr"], device="cpu").scales == (
        0.3535,
        0.5,
        0.7071,
        1.0,
        1.4142,
    )
    assert Extractor(tiny_models["gem"], device="cpu").scales == (1.0,)


def test_box_equals_extracting_the_cropped_photo(tiny_models, tmp_path):
    img, pl = render_scene([2], seed=5, size=(320, 240))
    full = tmp_path / "full.png"
    img.save(full)
    box = pl[0].box
    crop = tmp_path / "crop.png"
    img.crop(box).save(crop)
    ex = Extractor(tiny_models["gem"], device="cpu", precision="fp32")
    a = ex.extract_one(full, box=box).descriptor
    b = ex.extract_one(crop).descriptor
    assert _cos(a, b) > 0.999
    assert _cos(a, ex.extract_one(full).descriptor) < 0.999


def test_rotated_photo_matches_its_upright_copy(tiny_models, tmp_path):
    from tests.helpers import save_with_orientation

    img, _ = render_scene([1], seed=9, size=(320, 240))
    up = tmp_path / "up.jpg"
    save_with_orientation(img, 1, up)
    ex = Extractor(tiny_models["gem"], device="cpu", precision="fp32")
    ref = ex.extract_one(up).descriptor
    for o in (3, 6, 8):
        p = tmp_path / f"o{o}.jpg"
        save_with_orientation(img, o, p)
        assert _cos(ref, ex.extract_one(p).descriptor) > 0.99


def test_bad_photos_in_a_batch_are_reported_and_the_run_goes_on(tiny_models, tmp_path):
    good = _scenes(tmp_path, 3)
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    sources = [good[0], bad, good[1], tmp_path / "missing.jpg", good[2]]
    seen = []
    progress = []
    ex = Extractor(tiny_models["gem"], device="cpu", precision="fp32")
    for i, out in ex.extract(sources, progress=lambda d, t, m: progress.append((d, t))):
        seen.append((i, type(out).__name__))
    assert [i for i, _ in seen] == [0, 1, 2, 3, 4]
    assert [k for _, k in seen] == [
        "Extraction",
        "BadImageError",
        "Extraction",
        "BadImageError",
        "Extraction",
    ]
    assert progress[-1] == (5, 5)


def test_should_stop_ends_the_run_early(tiny_models, tmp_path):
    paths = _scenes(tmp_path, 6)
    ex = Extractor(tiny_models["gem"], device="cpu", precision="fp32")
    got = []
    for i, _ in ex.extract(paths, should_stop=lambda: len(got) >= 2):
        got.append(i)
    assert got == [0, 1]


def test_pil_and_bytes_queries(tiny_models, scene_jpeg):
    path, _ = scene_jpeg
    ex = Extractor(tiny_models["gem"], device="cpu", precision="fp32")
    a = ex.extract_one(path).descriptor
    assert np.allclose(a, ex.extract_one(path.read_bytes()).descriptor, atol=1e-6)
    assert np.allclose(a, ex.extract_one(Image.open(path)).descriptor, atol=1e-6)
    with pytest.raises(BadImageError):
        ex.extract_one(b"garbage")
