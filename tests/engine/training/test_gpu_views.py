"""Generated training views made on the training device (engine.training.gpu_views and
gpu_assets), run on the CPU: the same code path a GPU runs, with ``device="cpu"``."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import engine.training.generated as generated
import engine.training.gpu_assets as gpu_assets
from engine.errors import ConfigError
from engine.training.batches import batch_loader
from engine.training.config import GeneratedConfig, TrainConfig
from engine.training.generated import GeneratedBatches, GeneratedData, GeneratedSpec
from engine.training.generator import EVAL_IDENTITY_OFFSET
from engine.training.gpu_views import ViewAssets, make_views
from engine.training.trainer import Trainer

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _batches(views_on="device", identities=4, views=3, size=64, rank=0, ramp=0.5, **kw):
    spec = GeneratedSpec(
        identities=identities, views=views, image_size=size, ramp=ramp, views_on=views_on, **kw
    )
    return GeneratedBatches(spec, MEAN, STD, seed=5, total_steps=10, rank=rank, device="cpu")


def test_device_views_have_the_cpu_renderers_shapes_and_labels():
    ds = _batches()
    assets, y, bad = ds[3]
    assert isinstance(assets, ViewAssets) and bad == 0 and len(assets) == 12
    assert assets.sprites.dtype == torch.uint8 and assets.sprites.shape[:2] == (4, 4)
    assert assets.backgrounds.dtype == torch.uint8 and assets.backgrounds.shape[1] == 3
    x, y = ds.to_device(assets, y, torch.device("cpu"))
    ref, ref_y, _ = _batches("cpu")[3]
    assert x.shape == ref.shape == (12, 3, 48, 64) and x.dtype == torch.float32
    assert y.tolist() == ref_y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    # normalised like the CPU renderer's batches: [0, 1] images through mean and std
    images = x * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)
    assert images.min() >= -1e-5 and images.max() <= 1 + 1e-5 and images.std() > 0.1


def test_device_views_are_a_pure_function_of_seed_step_and_rank():
    ds = _batches()
    x1, _ = ds.to_device(*ds[3][:2], torch.device("cpu"))
    x2, _ = ds.to_device(*_batches()[3][:2], torch.device("cpu"))
    x3, _ = ds.to_device(*ds[4][:2], torch.device("cpu"))
    x4, _ = ds.to_device(*_batches(rank=1)[3][:2], torch.device("cpu"))
    assert torch.equal(x1, x2)
    assert not torch.equal(x1, x3) and not torch.equal(x1, x4)


def test_device_views_draw_the_cpu_renderers_identities(monkeypatch):
    seen = {"cpu": [], "device": []}
    real_scene, real_object = generated.render_scene, gpu_assets.render_object

    def scene_spy(identities, *a, **kw):
        seen["cpu"].extend(identities)
        return real_scene(identities, *a, **kw)

    def object_spy(identity, *a, **kw):
        seen["device"].append(identity)
        return real_object(identity, *a, **kw)

    monkeypatch.setattr(generated, "render_scene", scene_spy)
    monkeypatch.setattr(gpu_assets, "render_object", object_spy)
    _batches("cpu", views=2)[7]
    _batches("device", views=2)[7]
    assert sorted(set(seen["cpu"])) == sorted(seen["device"])
    assert len(seen["device"]) == 4 and max(seen["device"]) < EVAL_IDENTITY_OFFSET


def test_every_view_of_an_identity_shows_its_object():
    assets, _, _ = _batches(identities=6, views=4, size=96)[9]
    _, alpha = make_views(assets, with_alpha=True)
    assert (alpha.mean((1, 2)) > 0.003).all()
    # without colour casts, blur, jitter and occluders, the object's mean colour in every
    # view is its own sprite's (sprites differ by more than 0.1 here)
    B = len(assets)
    plain = dataclasses.replace(
        assets,
        gain=torch.ones(B, 3),
        bias=torch.zeros(B, 3),
        blur=torch.zeros(B),
        photometric=torch.tensor([0.0, 1.0, 1.0, 0.0]).expand(B, 4),
        occluder_box=torch.tensor([0.0, 0.0, -1.0, -1.0]).expand(B, 4),
    )
    x, alpha = make_views(plain, with_alpha=True)
    sp = assets.sprites.float() / 255
    sprite_rgb = (sp[:, :3] * sp[:, 3:]).sum((2, 3)) / sp[:, 3:].sum((2, 3))
    inside = (alpha > 0.99).float()[:, None]
    view_rgb = (x * inside).sum((2, 3)) / inside.sum((2, 3))
    dist = torch.cdist(view_rgb, sprite_rgb)  # (views, sprites)
    own = torch.arange(6).repeat_interleave(4)
    assert torch.equal(dist.argmin(1), own)
    assert dist[torch.arange(B), own].max() < 0.08


def test_difficulty_shrinks_the_objects_and_close_ups_fill_the_frame():
    def object_area(ramp: float) -> tuple[float, ViewAssets]:
        ds = _batches(identities=8, views=4, size=64, ramp=ramp)
        areas = []
        for step in (2, 6):  # ramp 0.5 of 10 steps: difficulty 0 at step 0, 1 from step 5 on
            assets, _, _ = ds[0 if ramp > 1 else step]
            _, alpha = make_views(assets, supersample=1, with_alpha=True)
            areas.append(alpha[~assets.closeup].mean())
        return float(torch.stack(areas).mean()), assets

    easy, assets = object_area(ramp=100.0)  # step 0: difficulty 0
    hard, hard_assets = object_area(ramp=0.0)  # difficulty 1 throughout
    assert easy > 2 * hard
    assert not assets.hard.any() and hard_assets.hard.any()
    # a close-up's object box spans 1/1.4 .. 1/1.1 of the window (its larger side at 4:3)
    W, H = assets.size
    box = assets.box[assets.closeup]
    span = torch.maximum((box[:, 2] - box[:, 0]) / W, (box[:, 3] - box[:, 1]) / H)
    assert span.min() > 1 / 1.4 - 0.03 and span.max() < 1 / 1.1 + 0.03
    centre = (box[:, 0] + box[:, 2]) / 2
    assert torch.allclose(centre, torch.full_like(centre, W / 2), atol=1.0)


def test_assets_cross_loader_workers_intact():
    ds = _batches(identities=2, views=2)
    direct = ds[1][0]
    (via_worker, y, _), *_ = list(batch_loader(ds, [1], workers=1))
    assert isinstance(via_worker, ViewAssets) and y.tolist() == [0, 0, 1, 1]
    assert torch.equal(make_views(via_worker), make_views(direct))


def test_where_views_are_made_is_configured_and_checked():
    assert generated.resolve_views_on("auto", "cpu") == "cpu"
    assert generated.resolve_views_on("auto", "cuda") == "device"
    assert generated.resolve_views_on("device", "cpu") == "device"
    assert isinstance(_batches("auto")[0][0], torch.Tensor)  # CPU renderer on the CPU
    with pytest.raises(ValueError, match="views_on"):
        generated.resolve_views_on("gpu", None)
    cfg = TrainConfig(method="gem", batch_size=8, generated=GeneratedConfig(views_on="device"))
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.generated_spec().views_on == "device"
    with pytest.raises(ConfigError, match="views must be made on"):
        cfg = TrainConfig(method="gem", batch_size=8, generated=GeneratedConfig(views_on="gpu"))
        Trainer(cfg, GeneratedData(), "unused")


def test_a_short_run_trains_on_device_views(tmp_path, monkeypatch):
    calls = []
    real = generated.make_views

    def spy(assets, *a, **kw):
        calls.append(len(assets))
        return real(assets, *a, **kw)

    monkeypatch.setattr(generated, "make_views", spy)
    cfg = TrainConfig(
        method="gem",
        backbone="resnet18",
        pretrained="none",
        epochs=1,
        image_size=32,
        batch_size=4,
        workers=0,
        device="cpu",
        optimizer="adamw",
        lr=1e-3,
        generated=GeneratedConfig(steps_per_epoch=2, views=2, views_on="device"),
    )
    records = []
    res = Trainer(cfg, GeneratedData(), tmp_path / "run").run(on_record=records.append)
    steps = [r for r in records if r["kind"] == "step"]
    assert calls == [4, 4] and len(steps) == 2
    assert all(math.isfinite(r["loss"]) for r in steps)
    assert math.isfinite(res.history[0]["loss"])
