"""Training on generated objects: instance discrimination over unlimited identities.

The must-hold check: a short CPU run lowers the training loss *and* retrieves unseen objects
(a Revisited-Oxford-style set whose identities the generator never trains on) better than
the same network untrained.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.evaluation.runner import evaluate_revisitop
from engine.network.checkpoint import load_checkpoint
from engine.network.config import ModelConfig
from engine.network.extract import Extractor
from engine.network.models import create_model
from engine.training.config import GeneratedConfig, LabelledConfig, TrainConfig
from engine.training.generated import GeneratedBatches, GeneratedData, GeneratedSpec, difficulty_at
from engine.training.generator import EVAL_IDENTITY_OFFSET, write_eval_set
from engine.training.losses import multi_positive_infonce, retrieval_accuracy
from engine.training.trainer import Trainer

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def test_infonce_matches_its_definition_and_rewards_matching_views():
    torch.manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(6, 8), dim=1)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    t = 0.5
    expected = []
    for i in range(6):
        others = [a for a in range(6) if a != i]
        denom = torch.logsumexp(torch.stack([z[i] @ z[a] / t for a in others]), 0)
        pos = [p for p in others if y[p] == y[i]]
        expected.append(-torch.stack([z[i] @ z[p] / t - denom for p in pos]).mean())
    assert torch.allclose(multi_positive_infonce(z, y, t), torch.stack(expected).mean(), atol=1e-5)
    # views of one instance that coincide score lower than random ones
    same = torch.nn.functional.normalize(torch.randn(3, 8), dim=1).repeat_interleave(2, 0)
    assert multi_positive_infonce(same, y, 0.1) < multi_positive_infonce(z, y, 0.1)
    assert retrieval_accuracy(same, y) == 1.0
    # an anchor without a positive is left out instead of producing NaN
    lone = multi_positive_infonce(z[:5], y[:5], t)
    assert torch.isfinite(lone)


def test_batches_are_deterministic_and_never_use_evaluation_identities(monkeypatch):
    spec = GeneratedSpec(identities=3, views=3, image_size=64, ramp=0.5)
    seen: list[int] = []
    import engine.training.generated as generated

    real = generated.render_scene

    def spy(identities, *a, **kw):
        seen.extend(identities)
        return real(identities, *a, **kw)

    monkeypatch.setattr(generated, "render_scene", spy)
    ds = GeneratedBatches(spec, MEAN, STD, seed=5, total_steps=10)
    x1, y1, bad = ds[3]
    x2, y2, _ = ds[3]
    x3, _, _ = ds[4]
    assert x1.shape == (9, 3, 48, 64) and bad == 0
    assert y1.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    assert seen and max(seen) < EVAL_IDENTITY_OFFSET
    # another rank renders other objects for the same step
    other = GeneratedBatches(spec, MEAN, STD, seed=5, total_steps=10, rank=1)
    assert not torch.equal(other[3][0], x1)


def test_curriculum_ramps_then_holds():
    assert difficulty_at(0, 100, 0.5) == 0.0
    assert difficulty_at(25, 100, 0.5) == pytest.approx(0.5)
    assert difficulty_at(50, 100, 0.5) == 1.0
    assert difficulty_at(99, 100, 0.5) == 1.0
    assert difficulty_at(0, 100, 0.0) == 1.0


def test_generated_config_is_checked():
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="multiple of --views"):
        Trainer(
            TrainConfig(method="gem", batch_size=10, generated=GeneratedConfig(views=4)),
            GeneratedData(),
            "unused",
        )
    with pytest.raises(ConfigError, match="CiDeR-FT"):
        cfg = TrainConfig(method="cider", labelled=LabelledConfig(cider_ft=True))
        Trainer(cfg, GeneratedData(), "unused")


def _medium_map(model, gnd, images, size: int) -> float:
    ex = Extractor(model, image_size=size, scales=(1.0,), precision="fp32")
    return evaluate_revisitop(ex, gnd, images, pipeline="global")["M"]["mAP"]


def test_short_training_beats_the_untrained_network_on_unseen_objects(tmp_path):
    """Fixed seeds throughout (about a minute on two cores). Measured: Medium mAP 6.06
    untrained → 9.95 after 40 steps at lr 3e-3 (+3.9), epoch loss 3.41 → 3.32; the assertion
    asks for +1.5, since float rounding differs between CPUs and torch builds (at lr 1e-3 one
    build gave +3.6 and another +0.2: a run this short sits near the edge)."""
    ev = write_eval_set(
        tmp_path / "eval", queries=10, positives=4, distractors=30, size=(192, 144), seed=11
    )
    size = 128
    cfg = TrainConfig(
        method="gem",
        backbone="resnet18",
        pretrained="none",
        epochs=2,
        image_size=96,
        batch_size=32,
        optimizer="adamw",
        lr=3e-3,
        weight_decay=1e-4,
        warmup_epochs=0.2,
        workers=0,
        seed=0,
        # a short run stays with object-filled views (curriculum)
        generated=GeneratedConfig(steps_per_epoch=20, views=4, curriculum=4.0),
    )
    untrained = create_model(
        ModelConfig(architecture="gem", backbone="resnet18", pretrained="none").resolved(), seed=0
    )
    before = _medium_map(untrained, ev["gnd"], ev["images"], size)
    res = Trainer(cfg, GeneratedData(), tmp_path / "run").run()
    losses = [h["loss"] for h in res.history]
    after = _medium_map(load_checkpoint(tmp_path / "run" / "model"), ev["gnd"], ev["images"], size)
    print(f"loss {losses}, Medium mAP untrained {before:.2f} trained {after:.2f}")
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert after >= before + 1.5


def test_cli_trains_on_generated_objects_resumes_exports_and_evaluates(tmp_path, capsys):
    from engine.cli import main

    out = tmp_path / "run"
    args = [
        "train",
        "synthetic",
        "--method",
        "gem",
        "--backbone",
        "resnet18",
        "--pretrained",
        "none",
        "--image-size",
        "64",
        "--batch-size",
        "8",
        "--views",
        "2",
        "--steps-per-epoch",
        "2",
        "--optimizer",
        "adamw",
        "--lr",
        "0.001",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--json",
    ]
    assert main([*args, "--epochs", "1"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["epochs"] == 1 and "no fixed classes" in first["data"][0]
    # a longer schedule picks up after the saved epoch
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert [h["epoch"] for h in second["history"]] == [0, 1]
    assert 0.0 <= second["history"][1]["val_accuracy"] <= 1.0
    assert (
        main(
            [
                "export",
                str(out / "model"),
                str(tmp_path / "m"),
                "--half",
                "--image-size",
                "96",
                "--json",
            ]
        )
        == 0
    )
    exported = json.loads(capsys.readouterr().out)
    assert exported["half"] and exported["bytes"] > 0
    assert json.loads((tmp_path / "m" / "config.json").read_text())["image_size"] == 96
    ev = write_eval_set(tmp_path / "eval", queries=2, positives=2, distractors=2, size=(96, 72))
    assert (
        main(
            [
                "evaluate",
                "--gnd",
                ev["gnd"],
                "--images",
                ev["images"],
                "--model",
                str(tmp_path / "m"),
                "--pipeline",
                "global",
                "--json",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    assert set(res) >= {"E", "M", "H"} and 0 <= res["M"]["mAP"] <= 100
