"""Heatmaps, unsupervised discovery and the network's seed method (a click matched on patch
features; measured here, it draws no outline in the product) on photos with known boxes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.errors import VisualSearchError
from engine.network.attention import explain
from engine.network.config import ModelConfig
from engine.network.extract import Extractor
from engine.network.models import create_model
from engine.network.seed import Localizer, discover, localize_pair, point_to_patch
from engine.photo.drawing import box_iou, heatmap, overlay
from engine.training.generator import render_scene

W, H = 480, 360
N = 50


@pytest.fixture(scope="module")
def localizer():
    cfg = ModelConfig(architecture="gem", backbone="resnet50", pretrained="none").resolved()
    return Localizer(Extractor(create_model(cfg), device="cpu"))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """N (query, result) photo pairs of the same object, with its known boxes."""
    root = tmp_path_factory.mktemp("loc")
    out = []
    for i in range(N):
        q, qp = render_scene([i], seed=10_000 + i, size=(W, H), occlusion=0)
        r, rp = render_scene([i], seed=20_000 + i, size=(W, H))
        q.save(root / f"q{i}.png")
        r.save(root / f"r{i}.png")
        out.append((root / f"q{i}.png", qp[0].box, root / f"r{i}.png", rp[0].box))
    return out


def test_click_localization_beats_trivial_boxes_and_discovery_is_measured(localizer, pairs):
    click, disc, whole, centre = [], [], [], []
    for q, qb, r, rb in pairs:
        point = ((qb[0] + qb[2]) / 2, (qb[1] + qb[3]) / 2)
        click.append(box_iou(localizer.localize(q, r, point=point).box, rb))
        f, size, _ = localizer.features(r)
        disc.append(box_iou(discover(f, size).box, rb))
        whole.append(box_iou((0, 0, W, H), rb))
        centre.append(box_iou((W / 4, H / 4, 3 * W / 4, 3 * H / 4), rb))
    m = {
        k: float(np.mean(v))
        for k, v in dict(click=click, discover=disc, whole=whole, centre=centre).items()
    }
    print(
        f"mean IoU on {N} photos (untrained ResNet-50 GeM features):",
        {k: round(v, 3) for k, v in m.items()},
    )
    # seen: click 0.271, discover 0.102, whole image 0.095, centred box 0.197
    assert m["click"] > m["centre"] + 0.04 and m["click"] > m["whole"] + 0.1
    assert m["click"] >= 0.2
    assert m["discover"] >= 0.06


def test_results_are_cached_per_query_click_and_result(localizer, pairs, monkeypatch):
    q, qb, r, _ = pairs[0]
    a = localizer.localize(q, r, point=(qb[0] + 5, qb[1] + 5))
    monkeypatch.setattr(localizer.ex, "extract_one", lambda *a, **k: pytest.fail("recomputed"))
    assert localizer.localize(q, r, point=(qb[0] + 5, qb[1] + 5)) is a


def test_heatmap_and_overlay(localizer, pairs):
    q = pairs[1][0]
    ex = explain(localizer.ex, q, opacity=0.6)
    assert ex.heat.shape == (H, W) and ex.heat.dtype == np.float32
    assert float(ex.heat.min()) == 0.0 and float(ex.heat.max()) == pytest.approx(1.0)
    assert ex.rgba.shape == (H, W, 4) and ex.rgba.dtype == np.uint8
    hot = np.unravel_index(np.argmax(ex.heat), ex.heat.shape)
    cold = np.unravel_index(np.argmin(ex.heat), ex.heat.shape)
    assert ex.rgba[hot][3] > ex.rgba[cold][3]  # hotter is more opaque
    boxed = explain(localizer.ex, q, box=(10, 20, 210, 120))
    assert boxed.heat.shape == (100, 200)
    assert heatmap(np.ones((3, 4)), (8, 6)).max() == 0  # a flat map has no hot spot
    assert overlay(np.zeros((2, 2)))[..., 3].max() > 0


def test_degenerate_inputs_give_clear_errors(localizer, tmp_path):
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (12, 9), (200, 30, 30)).save(tiny)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (320, 240), (128, 128, 128)).save(blank)
    scene = tmp_path / "scene.png"
    render_scene([3], seed=1, size=(320, 240))[0].save(scene)
    with pytest.raises(VisualSearchError, match="too small"):
        localizer.localize(scene, tiny, point=(100, 100))
    with pytest.raises(VisualSearchError, match="too small"):
        localizer.localize(tiny, scene)
    with pytest.raises(VisualSearchError, match="blank"):
        localizer.discover(blank)
    with pytest.raises(VisualSearchError, match="blank"):
        localizer.localize(scene, blank, point=(100, 100))
    with pytest.raises(VisualSearchError, match="outside"):
        localizer.localize(scene, scene, point=(400, 10))
    with pytest.raises(VisualSearchError, match="outside"):
        point_to_patch((-1, 5), (320, 240), (8, 10))
    # the pure function on a flat-scoring result: a low confidence
    found = localize_pair(*_feat(localizer, scene), (2, 2), *_feat(localizer, scene))
    assert 0 <= found.score <= 1


def _feat(localizer, path):
    f, size, _ = localizer.features(path)
    return f, size


# ``visual-search localize`` no longer runs the seed method (the network alone never draws an
# outline): the command's tests are in tests/engine/cli/test_localize.py and, for the same
# outline as the library's, tests/engine/library/test_locate.py.
