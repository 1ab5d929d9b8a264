"""Training: loss goes down, runs are deterministic, cancel/kill and resume continue exactly,
CiDeR-FT freezes the backbone in stage 2, UGALR trains its auxiliary head, DDP runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.network.checkpoint import load_checkpoint
from engine.training.batches import Augment
from engine.training.config import LabelledConfig, TrainConfig
from engine.training.data import FolderDataset
from engine.training.generator import write_training_set
from engine.training.trainer import Trainer, lr_at
from tests.helpers import ROOT, kill_mid_epoch

NO_AUG = Augment(random_resized_crop=False, hflip=False, color_jitter=0.0)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainset")
    write_training_set(root, classes=6, per_class=6, size=(80, 60), seed=3)
    return root


def _cfg(labelled: dict | None = None, **kw) -> TrainConfig:
    base = dict(
        method="gem",
        backbone="resnet18",
        epochs=3,
        image_size=64,
        batch_size=8,
        lr=0.1,
        workers=0,
        warmup_epochs=0.5,
        pretrained="none",
        seed=0,
    )
    base.update(kw)
    lab = dict(arcface_margin=0.1, arcface_scale=16.0, val_fraction=0.0, augment=NO_AUG)
    lab.update(labelled or {})
    return TrainConfig(**base, labelled=LabelledConfig(**lab))


def _train_args(data: Path, out: Path, epochs: int, batch: int) -> list[str]:
    """``visual-search train`` arguments for a tiny, quick CPU run."""
    return [
        "train",
        str(data),
        "--method",
        "gem",
        "--backbone",
        "resnet18",
        "--epochs",
        str(epochs),
        "--image-size",
        "64",
        "--batch-size",
        str(batch),
        "--workers",
        "0",
        "--pretrained",
        "none",
        "--val-fraction",
        "0",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--json",
    ]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(out / "model").state_dict()


def test_short_training_lowers_the_loss(tiny_set, tmp_path):
    records, calls = [], []
    res = Trainer(_cfg(epochs=8), FolderDataset(tiny_set), tmp_path / "out").run(
        progress=lambda done, total, message: calls.append((done, total, message)),
        on_record=records.append,
    )
    losses = [h["loss"] for h in res.history]
    print("loss per epoch:", [round(v, 3) for v in losses])
    assert losses[-1] < 0.7 * losses[0]
    assert res.history[-1]["accuracy"] > res.history[0]["accuracy"]
    step = next(e for e in records if e["kind"] == "step")
    assert {"epoch", "step", "steps", "loss", "accuracy", "lr", "images_per_s", "eta_s"} <= set(
        step
    )
    assert [e["kind"] for e in records].count("epoch") == 8 and records[-1]["kind"] == "epoch"
    assert [e for e in records if e["kind"] == "epoch"] == [
        {"kind": "epoch", **h} for h in res.history
    ]
    # progress(done, total, message) like every other engine call: steps of the whole run,
    # and between them what the run does (measuring each epoch's model) at the steps done
    steps = [c for c in calls if ", step " in c[2]]
    assert [c[0] for c in steps] == list(range(1, 33)) and {c[1] for c in calls} == {32}
    assert steps[0][2].startswith("epoch 1/8, step 1/4: loss ") and "images/s" in steps[0][2]
    between = [c for c in calls if ", step " not in c[2]]
    assert [(c[0], c[2]) for c in between] == [
        (4 * e, f"epoch {e}/8: measuring the model…") for e in range(1, 9)
    ]
    cfg = json.loads((tmp_path / "out" / "model" / "config.json").read_text())
    assert cfg["architecture"] == "gem" and cfg["extra"]["classes"] == 6


def test_same_seed_same_weights(tiny_set, tmp_path):
    for name in ("a", "b"):
        Trainer(_cfg(epochs=1), FolderDataset(tiny_set), tmp_path / name).run()
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_cancel_then_resume_continues_exactly(tiny_set, tmp_path):
    data = FolderDataset(tiny_set)
    Trainer(_cfg(), data, tmp_path / "full").run()
    steps = []

    def stop():
        # mid-epoch 2 (4 steps per epoch); a phase message between epochs repeats the steps done
        return len(set(steps)) >= 5

    Trainer(_cfg(), data, tmp_path / "resumed").run(
        progress=lambda done, total, message: steps.append(done), should_stop=stop
    )
    state = json.loads((tmp_path / "resumed" / "state.json").read_text())
    assert (state["epoch"], state["step"]) == (1, 1)
    after = []
    res = Trainer(_cfg(), data, tmp_path / "resumed").run(on_record=after.append, resume=True)
    first = next(e for e in after if e["kind"] == "step")
    assert (first["epoch"], first["step"]) == (1, 1)
    assert first["lr"] == pytest.approx(lr_at(4 + 1, 12, 2, 0.1))
    assert len(res.history) == 3
    wf, wr = _weights(tmp_path / "full"), _weights(tmp_path / "resumed")
    for k in wf:
        assert torch.allclose(wf[k].float(), wr[k].float(), atol=1e-5), k


def test_kill_mid_epoch_and_resume_from_the_cli(tiny_set, tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "engine",
        *_train_args(tiny_set, out, epochs=3, batch=8),
        "--lr",
        "0.1",
        "--margin",
        "0.1",
        "--scale",
        "16",
        "--no-augment",
        "--checkpoint-minutes",
        "0",
    ]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = out / "state.json"
    killed_at = kill_mid_epoch(p, state)
    assert killed_at["step"] > 0  # mid-epoch
    done = subprocess.run([*cmd, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    final = json.loads(done.stdout)
    assert final["epochs"] == 3 and len(final["history"]) == 3
    assert json.loads(state.read_text())["epoch"] == 3
    model = load_checkpoint(out / "model")
    assert model.config.architecture == "gem"


def test_cider_ft_freezes_the_backbone_in_stage_two(tiny_set, tmp_path):
    data = FolderDataset(tiny_set)
    cfg = _cfg(method="cider", epochs=2, labelled=dict(cider_ft=True, ft_stage1_epochs=1))
    seen = []
    # the same schedule, stopped at the first step of stage 2: out/model holds stage 1's end
    Trainer(cfg, data, tmp_path / "s1").run(
        on_record=seen.append, should_stop=lambda: any(e.get("stage") == 2 for e in seen)
    )
    Trainer(cfg, data, tmp_path / "s2").run()
    a, b = _weights(tmp_path / "s1"), _weights(tmp_path / "s2")
    backbone = [k for k in a if k.startswith("backbone.")]
    head = [
        k
        for k in a
        if k.startswith(("context.", "localize.", "whiten.")) and a[k].is_floating_point()
    ]
    assert all(torch.equal(a[k], b[k]) for k in backbone)  # stage 2 left it alone
    assert any(not torch.equal(a[k], b[k]) for k in head)  # and trained the head
    hist = json.loads((tmp_path / "s2" / "state.json").read_text())["history"]
    assert [h["stage"] for h in hist] == [1, 2]


def test_ugalr_trains_with_its_intermediate_loss(tiny_set, tmp_path):
    res = Trainer(_cfg(method="ugalr", epochs=2), FolderDataset(tiny_set), tmp_path / "u").run()
    assert all(h["loss"] == h["loss"] for h in res.history)  # finite, not NaN
    state = json.loads((tmp_path / "u" / "state.json").read_text())
    assert state["train_config"]["aux_weight"] == 0.6


def test_config_round_trips_and_reads_the_flat_layout():
    cfg = _cfg(method="ugalr", labelled=dict(cider_ft=False, val_fraction=0.2))
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    # state.json of earlier versions: every field at the top level
    flat = {k: v for k, v in cfg.to_dict().items() if k not in ("labelled", "generated")}
    flat.update(cfg.to_dict()["labelled"], **cfg.to_dict()["generated"])
    assert TrainConfig.from_dict(flat) == cfg


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(tiny_set, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "engine",
            *_train_args(tiny_set, out, epochs=1, batch=4),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # 36 images, batches of 4 → 9 batches: 4 per rank, ranks in step
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines and lines[0]["epochs"] == 1
    assert load_checkpoint(out / "model").config.architecture == "gem"
