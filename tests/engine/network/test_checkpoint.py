"""Checkpoint directories: identical round trip, and every broken case refused clearly."""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.errors import CheckpointError, ConfigError
from engine.network.checkpoint import (
    load_checkpoint,
    model_fingerprint,
    resolve_model,
    save_checkpoint,
)
from engine.network.config import SCHEMA_VERSION
from engine.network.extract import Extractor
from engine.network.models import list_models


@pytest.fixture
def saved(tmp_path, tiny_models):
    return save_checkpoint(tiny_models["cider"], tmp_path / "ckpt")


@pytest.mark.parametrize("arch", list_models())
def test_round_trip_gives_identical_descriptors(tmp_path, tiny_models, scene_jpeg, arch):
    model = copy.deepcopy(tiny_models[arch])
    with torch.no_grad():  # move weights away from the seeded init, so loading really matters
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 1e-3)
    d = save_checkpoint(model, tmp_path / arch)
    assert sorted(x.name for x in d.iterdir()) == ["config.json", "model.safetensors"]
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["architecture"] == arch and cfg["backbone"] == "resnet18"
    assert cfg["descriptor_dim"] == model.num_features
    assert cfg["schema_version"] == SCHEMA_VERSION
    assert cfg["image_size"] == 128 and len(cfg["mean"]) == 3
    loaded = load_checkpoint(d)
    path, _ = scene_jpeg
    a = Extractor(model, device="cpu", precision="fp32").extract_one(path).descriptor
    b = Extractor(loaded, device="cpu", precision="fp32").extract_one(path).descriptor
    assert np.array_equal(a, b)
    assert model_fingerprint(loaded) == model_fingerprint(model)


def test_no_pickle_on_the_load_path(saved, monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("unpickling on the load path")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    load_checkpoint(saved)


def _edit_weights(d, fn):
    state = load_file(str(d / "model.safetensors"))
    fn(state)
    save_file(state, str(d / "model.safetensors"))


def test_wrong_shape_refused(saved):
    _edit_weights(saved, lambda s: s.__setitem__("whiten.fc.weight", torch.zeros(3, 3)))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(saved)
    msg = str(e.value)
    assert "model.safetensors" in msg and "shape mismatch" in msg and "whiten.fc.weight" in msg


def test_missing_key_refused(saved):
    _edit_weights(saved, lambda s: s.pop("localize.conv.weight"))
    with pytest.raises(
        CheckpointError,
        match=r"model\.safetensors: missing key\(s\): "
        r"localize\.conv\.weight",
    ):
        load_checkpoint(saved)


def test_unexpected_key_refused(saved):
    _edit_weights(saved, lambda s: s.__setitem__("extra.thing", torch.zeros(1)))
    with pytest.raises(CheckpointError, match=r"unexpected key\(s\): extra\.thing"):
        load_checkpoint(saved)


def test_nan_weights_refused(saved):
    _edit_weights(saved, lambda s: s["whiten.fc.bias"].fill_(float("nan")))
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(saved)


def test_unknown_architecture_refused(saved):
    cfg = json.loads((saved / "config.json").read_text())
    cfg["architecture"] = "transformer9000"
    (saved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(
        CheckpointError,
        match=r"config\.json: unknown architecture "
        r"'transformer9000'",
    ):
        load_checkpoint(saved)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda d: (d / "model.safetensors").write_bytes(b"\x00garbage" * 10), "corrupt"),
        (
            lambda d: (d / "model.safetensors").write_bytes(
                (d / "model.safetensors").read_bytes()[:5000]
            ),
            "corrupt",
        ),
        (lambda d: (d / "model.safetensors").unlink(), "model.safetensors: missing"),
        (lambda d: (d / "config.json").unlink(), "config.json: missing"),
        (lambda d: (d / "config.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "config.json").write_bytes(b"\xff\xfe\x00"), "not a text file"),
        (lambda d: (d / "config.json").write_text("[1, 2]"), "expected a JSON object"),
        (
            lambda d: (d / "config.json").write_text(
                json.dumps({"architecture": "gem", "schema_version": 99})
            ),
            "newer",
        ),
        (
            lambda d: (d / "config.json").write_text(
                json.dumps({"architecture": "gem", "colour": "red"})
            ),
            "unknown config field",
        ),
    ],
)
def test_broken_checkpoints_refused_with_file_and_reason(saved, damage, reason):
    damage(saved)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(saved)
    msg = str(e.value)
    assert reason in msg
    assert str(saved) in msg
    assert "\n" not in msg


def test_not_a_directory(tmp_path):
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        load_checkpoint(tmp_path / "nowhere")


def test_resolve_model_by_name_dir_and_default(saved):
    assert resolve_model(str(saved)).config.architecture == "cider"
    m = resolve_model("ugalr:resnet18", pretrained="none")
    assert m.config.architecture == "ugalr" and m.config.backbone == "resnet18"
    assert resolve_model("default", pretrained="none").config.architecture in {
        "gem",
        "cider",
        "ugalr",
    }
    with pytest.raises(ConfigError, match="no checkpoint directory or architecture"):
        resolve_model("nonsense")


def test_fingerprint_changes_with_weights_and_config(tiny_models):
    from engine.network.config import ModelConfig
    from engine.network.models import create_model

    a = tiny_models["gem"]
    fp = model_fingerprint(a)
    assert fp == model_fingerprint(a)
    cfg = ModelConfig(
        architecture="gem", backbone="resnet18", image_size=256, pretrained="none"
    ).resolved()
    assert model_fingerprint(create_model(cfg)) != fp  # same weights, other config
    b = create_model(a.config)
    with torch.no_grad():
        b.whiten.fc.bias.add_(1e-3)
    assert model_fingerprint(b) != fp


def test_half_precision_checkpoint_is_half_the_size_and_describes_the_same(
    tmp_path, tiny_models, scene_jpeg
):
    model = tiny_models["gem"]
    full = save_checkpoint(model, tmp_path / "full")
    half = save_checkpoint(model, tmp_path / "half", half=True)
    assert {v.dtype for v in load_file(str(half / "model.safetensors")).values()} <= {
        torch.float16,
        torch.int64,
    }
    ratio = (half / "model.safetensors").stat().st_size / (
        full / "model.safetensors"
    ).stat().st_size
    assert 0.45 < ratio < 0.55
    loaded = load_checkpoint(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    path, _ = scene_jpeg
    a = Extractor(model, device="cpu", precision="fp32").extract_one(path).descriptor
    b = Extractor(loaded, device="cpu", precision="fp32").extract_one(path).descriptor
    assert float(a @ b) > 0.999
