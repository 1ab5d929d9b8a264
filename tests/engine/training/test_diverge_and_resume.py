"""A loss that goes NaN stops training with the last good checkpoint and says so; a run
cancelled on the last step of an epoch resumes to the same epoch record and weights as a run
that was never stopped (weights, optimizer, epoch, step and the epoch's losses so far are
saved together)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from engine.network.checkpoint import load_checkpoint
from engine.training.data import FolderDataset
from engine.training.objective import TrainModule
from engine.training.trainer import Trainer
from tests.engine.training.test_trainer import _cfg


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    from engine.training.generator import write_training_set

    root = tmp_path_factory.mktemp("trainset")
    write_training_set(root, classes=4, per_class=4, size=(64, 48), seed=5)
    return root


def _weights(out):
    return load_checkpoint(out / "model").state_dict()


def test_a_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_set, tmp_path, monkeypatch):
    data = FolderDataset(tiny_set)
    cfg = _cfg(epochs=3, batch_size=8)  # 16 photos: 2 steps an epoch
    good = tmp_path / "good"
    Trainer(_cfg(epochs=1, batch_size=8), data, good).run()
    real = TrainModule.forward
    calls = []

    def poisoned(self, x, y):  # the fourth step's loss is NaN (epoch 2, step 2)
        loss, acc = real(self, x, y)
        calls.append(1)
        return (loss * math.nan if len(calls) == 4 else loss), acc

    monkeypatch.setattr(TrainModule, "forward", poisoned)
    out = tmp_path / "run"
    records = []
    res = Trainer(cfg, data, out).run(on_record=records.append)
    assert not res.cancelled and res.epochs_done == 1
    assert res.diverged.startswith("training stopped in epoch 2, step 2: the loss became nan")
    assert "end of epoch 1" in res.diverged and str(out / "model") in res.diverged
    assert "lower learning rate" in res.diverged
    # the NaN step was neither trained on nor saved: the model is epoch 1's, as a run of one
    # epoch writes it, and it loads and exports
    assert len(calls) == 4 and [r["kind"] for r in records].count("step") == 3
    wg, wo = _weights(good), _weights(out)
    assert all(torch.equal(wg[k], wo[k]) for k in wg)
    assert (out / "model" / "model.onnx").is_file()
    assert json.loads((out / "state.json").read_text())["epoch"] == 1


def test_nan_before_any_checkpoint_says_no_model_was_written(tiny_set, tmp_path, monkeypatch):
    monkeypatch.setattr(
        TrainModule,
        "forward",
        lambda self, x, y: (torch.tensor(float("inf"), requires_grad=True), torch.tensor(0.0)),
    )
    out = tmp_path / "run"
    res = Trainer(_cfg(epochs=2, batch_size=8), FolderDataset(tiny_set), out).run()
    assert res.epochs_done == 0 and not (out / "model").exists()
    assert "the loss became inf" in res.diverged
    assert "no checkpoint had been saved yet, so no model was written" in res.diverged


def test_cancel_on_an_epochs_last_step_resumes_to_the_same_record(tiny_set, tmp_path):
    data = FolderDataset(tiny_set)
    cfg = _cfg(epochs=2, batch_size=8)  # 2 steps an epoch
    full = Trainer(cfg, data, tmp_path / "full").run()
    steps = []
    first = Trainer(cfg, data, tmp_path / "resumed").run(
        progress=lambda done, total, message: steps.append(done),
        should_stop=lambda: len(steps) >= 2,  # the last step of epoch 1
    )
    assert first.cancelled and first.epochs_done == 0
    state = json.loads((tmp_path / "resumed" / "state.json").read_text())
    assert (state["epoch"], state["step"]) == (0, 2)
    assert len(state["partial"]["losses"]) == 2  # the epoch's losses so far, kept with it
    res = Trainer(cfg, data, tmp_path / "resumed").run(resume=True)
    assert [h["loss"] for h in res.history] == pytest.approx([h["loss"] for h in full.history])
    assert all(math.isfinite(h["loss"]) for h in res.history)
    wf, wr = _weights(tmp_path / "full"), _weights(tmp_path / "resumed")
    for k in wf:
        assert torch.allclose(wf[k].float(), wr[k].float(), atol=1e-5), k


def test_a_steps_line_says_the_measured_rate_and_time_left():
    from engine.training.trainer import step_message

    rec = dict(epoch=1, step=4, steps=10, loss=0.5, accuracy=0.25, lr=1e-4, images_per_s=3.5)
    assert step_message({**rec, "eta_s": None}, 3).endswith("3.5 images/s, measuring the rate")
    assert step_message({**rec, "eta_s": 3103.0}, 3) == (
        "epoch 2/3, step 5/10: loss 0.500, accuracy 0.25, lr 0.0001, 3.5 images/s, 51m43s left"
    )
