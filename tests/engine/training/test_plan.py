"""Training defaults by device, their duration estimate, and the facts Settings shows."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_cpu_defaults_are_small_and_fit_the_budget():
    from engine.training.plan import CPU_BUDGET_S, propose

    for images in (9, 300, 3000):
        plan = propose("cider", images, "cpu", cpu_count=2)
        assert (plan.backbone, plan.image_size) == ("resnet18", 224)
        assert 1 <= plan.epochs <= 10 and plan.batch_size <= max(2, images)
        assert plan.seconds <= CPU_BUDGET_S
        assert plan.notice().startswith("No GPU found: training runs on the CPU")
        assert plan.duration in plan.notice()
    big = propose("cider", 3000, "cpu", cpu_count=2)
    assert big.epochs < 10  # fewer epochs for more photos
    huge = propose("cider", 200_000, "cpu", cpu_count=2)
    assert huge.epochs == 1 and "still takes about" in huge.notice()


def test_gpu_defaults_are_the_papers_and_wait_for_a_measurement():
    from engine.network.models import get_entry
    from engine.training.plan import propose

    for method in ("cider", "ugalr"):
        plan = propose(method, 5000, "cuda", cpu_count=16)
        entry = get_entry(method)
        assert (plan.backbone, plan.image_size, plan.epochs) == (
            entry.train_backbone,
            entry.train_image_size,
            10,
        )
        assert plan.seconds is None and "timing one training step" in plan.notice()
        timed = propose(method, 5000, "cuda", cpu_count=16, images_per_s=100.0)
        assert timed.seconds == pytest.approx(5000 * 10 / 100.0 * 1.1)
        assert "on the GPU" in timed.notice() and "minutes" in timed.notice()


def test_estimates_follow_the_choices():
    from engine.training.plan import describe_duration, propose

    plan = propose("cider", 300, "cpu", cpu_count=2)
    paper = plan.revised(backbone="resnet101", image_size=512, epochs=10)
    assert paper.seconds > 20 * plan.seconds  # bigger network, 5× the pixels
    assert plan.revised(epochs=plan.epochs * 2).seconds == pytest.approx(2 * plan.seconds)
    assert propose("cider", 300, "cpu", cpu_count=8).seconds < plan.seconds
    gpu = propose("cider", 300, "cuda", images_per_s=200.0)
    assert gpu.revised(backbone="resnet18").seconds < gpu.seconds
    assert describe_duration(30) == "about a minute"
    assert describe_duration(600) == "about 10 minutes"
    assert describe_duration(3 * 3600) == "about 3.0 hours"
    assert describe_duration(None) == "an unknown time"


def test_one_training_step_is_timed():
    from engine.training.plan import measure_images_per_s

    rate = measure_images_per_s("gem", "resnet18", 32, 2, device="cpu")
    assert rate > 0


def test_report_rows_name_classes_counts_and_files(tmp_path):
    from engine.training.data import open_dataset
    from engine.training.generator import write_training_set

    write_training_set(tmp_path, classes=2, per_class=3, size=(64, 48))
    first = sorted(p for p in tmp_path.iterdir() if p.is_dir())[0]
    (first / "zero.jpg").write_bytes(b"")
    rep = open_dataset(tmp_path).report
    rows = rep.class_rows()
    assert [(c, n) for c, n, _ in rows] == [(first.name, 3), (rows[1][0], 3)]
    assert rows[0][2] == "zero.jpg: empty file (0 bytes)" and rows[1][2] == ""
    assert rep.problems == [(first.name, "zero.jpg", "empty file (0 bytes)")]


def test_weights_info_names_size_and_source():
    import torch

    from engine.network.models.backbones import BACKBONES
    from engine.network.weights import BACKBONE_NAMES, cached_weights_path, weights_info

    assert set(BACKBONE_NAMES) == set(BACKBONES)
    for name in BACKBONES:
        info = weights_info(name)
        tv = BACKBONES[name].weights  # torchvision's own table
        assert info.host == "download.pytorch.org" and info.url == tv.url
        assert info.size_mb == pytest.approx(tv.meta["_file_size"], rel=0.01)
        want = Path(torch.hub.get_dir()) / "checkpoints" / info.filename
        assert Path(cached_weights_path(name)) == want
    assert 90 < weights_info("resnet50").size_mb < 110


def test_cuda_unavailable_reason(monkeypatch):
    import torch

    from engine.network.runtime import cuda_unavailable_reason, device_kind

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cuda_unavailable_reason() in (
        "no NVIDIA GPU found",
        "this PyTorch build has no CUDA support",
    )
    assert device_kind() == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cuda_unavailable_reason() is None


def test_every_model_has_a_plain_summary():
    from engine.network.models import get_entry, list_models

    for name in list_models():
        entry = get_entry(name)
        assert entry.summary and entry.summary != entry.description and "\n" not in entry.summary
