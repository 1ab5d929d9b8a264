"""The registry is the one list of architectures: every registered one can be created, trained
for a step on either kind of data, and is listed by ``visual-search models``. No architecture
is named here; per-architecture facts come from its entry."""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest
import torch

from engine.cli import main
from engine.network.config import ModelConfig
from engine.network.models import create_model, get_entry, list_models
from engine.training.batches import Augment
from engine.training.config import GeneratedConfig, LabelledConfig, TrainConfig
from engine.training.data import FolderDataset
from engine.training.generated import GeneratedData
from engine.training.generator import write_training_set
from engine.training.trainer import Trainer

ARCHS = list_models()
NO_AUG = Augment(random_resized_crop=False, hflip=False, color_jitter=0.0)


@pytest.fixture(scope="module")
def four_photos(tmp_path_factory):
    """Two classes of two photos: one batch of four, so one optimizer step per epoch."""
    root = tmp_path_factory.mktemp("registry-set")
    write_training_set(root, classes=2, per_class=2, size=(80, 60), seed=1)
    return FolderDataset(root)


@pytest.fixture(scope="module")
def listed():
    """``visual-search models --json``, run in-process."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["models", "--backbone", "resnet18", "--json"]) == 0
    return json.loads(out.getvalue())


def _cfg(arch: str, **kw) -> TrainConfig:
    return TrainConfig(
        method=arch,
        backbone="resnet18",
        epochs=1,
        image_size=64,
        batch_size=4,
        lr=0.01,
        workers=0,
        pretrained="none",
        device="cpu",
        **kw,
    )


def _moved(out, arch: str) -> bool:
    """Did training change the network (compared with the same config untrained)?"""
    from engine.network.checkpoint import load_checkpoint

    trained = load_checkpoint(out / "model")
    assert trained.config.architecture == arch
    init = create_model(trained.config).state_dict()
    return any(
        v.is_floating_point() and not torch.equal(v, init[k])
        for k, v in trained.state_dict().items()
    )


@pytest.mark.parametrize("arch", ARCHS)
def test_created_with_the_interface_its_entry_promises(arch):
    entry = get_entry(arch)
    model = create_model(
        ModelConfig(architecture=arch, backbone="resnet18", pretrained="none").resolved()
    ).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.descriptor.shape == (2, model.num_features)
    if entry.aux_loss is not None:  # the embedding its auxiliary loss supervises
        assert out.aux[entry.aux_loss.output].shape == (2, model.aux_dims[entry.aux_loss.output])
    if entry.finetune_head is not None:  # CiDeR-FT's stage 2 head: modules after the backbone
        head = entry.finetune_head(model)
        children = list(model.children())
        assert head and all(any(h is c for c in children) for h in head)
        assert not any(h is model.backbone for h in head)
    resolved = TrainConfig(method=arch).resolved()
    assert resolved.labelled.arcface_margin == entry.arcface_margin
    assert resolved.aux_weight == (entry.aux_loss.weight if entry.aux_loss else None)


@pytest.mark.parametrize("arch", ARCHS)
def test_trains_a_step_on_labelled_photos(arch, four_photos, tmp_path):
    records = []
    cfg = _cfg(arch, labelled=LabelledConfig(val_fraction=0.0, augment=NO_AUG))
    res = Trainer(cfg, four_photos, tmp_path / arch).run(on_record=records.append)
    assert [r["kind"] for r in records] == ["step", "epoch"]
    assert math.isfinite(res.history[0]["loss"]) and not res.cancelled
    assert _moved(tmp_path / arch, arch)


@pytest.mark.parametrize("arch", ARCHS)
def test_trains_a_step_on_generated_objects(arch, tmp_path):
    calls = []
    cfg = _cfg(arch, generated=GeneratedConfig(steps_per_epoch=1, views=2))
    res = Trainer(cfg, GeneratedData(), tmp_path / arch).run(
        progress=lambda done, total, message: calls.append((done, total, message))
    )
    # one step, then what the trainer does after it (measuring the model) on the same count
    steps = [(d, t) for d, t, m in calls if ", step " in m]
    assert steps == [(1, 1)] and {(d, t) for d, t, _ in calls} == {(1, 1)}
    assert math.isfinite(res.history[0]["loss"])
    assert _moved(tmp_path / arch, arch)


@pytest.mark.parametrize("arch", ARCHS)
def test_listed_by_the_models_command(arch, listed):
    row = next(r for r in listed if r["name"] == arch)
    entry = get_entry(arch)
    assert row["description"] == entry.description
    assert row["arcface_margin"] == entry.arcface_margin


def test_the_models_command_lists_nothing_else(listed):
    assert sorted({r["name"] for r in listed}) == ARCHS
