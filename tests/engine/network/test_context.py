"""Learnable smoothing and GCN refinement: the formula, gradients, equivariance, config path."""

from __future__ import annotations

import math

import pytest
import torch

from engine.network.config import ModelConfig
from engine.network.models import create_model, list_models
from engine.network.models.context import ContextGCN, LearnableSmoothing


def test_smoothing_weights_follow_the_formula_on_a_hand_made_map():
    sm = LearnableSmoothing(channels=2, kernel=3, feat_dim=2)
    f = torch.zeros(1, 2, 3, 3)
    f[0, 0] = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.5, 0.0], [0.0, 0.0, 3.0]])
    a = torch.full((1, 1, 3, 3), 0.7)
    c = torch.full((1, 1, 3, 3), 2.0)
    w = sm.weights_from(f, a, c)  # (1, 9, 3, 3), unfold order = row-major 3x3 window
    # centre pixel (1, 1): its 3x3 window is the whole map
    centre_f = f[0, :, 1, 1]
    raw = []
    for k in range(9):
        r, col = divmod(k, 3)
        if k == 4:
            raw.append(2.0)  # c at the centre
        else:
            d2 = float((f[0, :, r, col] - centre_f).pow(2).sum())
            raw.append(math.exp(-0.7 * d2))
    expected = torch.tensor(raw) / sum(raw)
    assert torch.allclose(w[0, :, 1, 1], expected, atol=1e-6)
    # a corner pixel: neighbours outside the map weigh nothing
    corner = w[0, :, 0, 0]
    assert torch.all(corner[[0, 1, 2, 3, 6]] == 0) and float(corner.sum()) == pytest.approx(1)


def test_smoothing_gradients_reach_bandwidth_confidence_and_kernel_features():
    torch.manual_seed(0)
    sm = LearnableSmoothing(channels=8, kernel=3, feat_dim=4)
    x = torch.randn(2, 8, 5, 5)
    sm(x).pow(2).sum().backward()
    for name in (
        "kfeat.weight",
        "bandwidth.weight",
        "bandwidth.bias",
        "confidence.weight",
        "confidence.bias",
    ):
        g = dict(sm.named_parameters())[name].grad
        assert g is not None and float(g.abs().sum()) > 0, name


def test_gcn_is_permutation_equivariant_over_nodes():
    torch.manual_seed(0)
    gcn = ContextGCN(channels=16, nodes=10, layers=2, hidden=8)
    x, pos = torch.randn(1, 10, 16), torch.rand(1, 10, 2)
    perm = torch.randperm(10)
    out = gcn.refine(x, pos)
    out_p = gcn.refine(x[:, perm], pos[:, perm])
    assert torch.allclose(out[:, perm], out_p, atol=1e-5)
    a = ContextGCN.adjacency(x, pos, 0.25)
    assert torch.allclose(a.sum(-1), torch.ones(1, 10), atol=1e-5)


@pytest.mark.parametrize("arch", list_models())
def test_switches_change_the_descriptor_only_through_their_path(arch):
    base_cfg = ModelConfig(architecture=arch, backbone="resnet18", pretrained="none").resolved()
    on_cfg = ModelConfig(
        architecture=arch,
        backbone="resnet18",
        pretrained="none",
        arch_params={"gcn": True, "smoothing": True},
    ).resolved()
    base, on = create_model(base_cfg).eval(), create_model(on_cfg).eval()
    extra = set(on.state_dict()) - set(base.state_dict())
    assert extra and all(k.startswith(("smooth.", "gcn.")) for k in extra)
    on.load_state_dict(base.state_dict(), strict=False)
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        ref = base(x).descriptor
        assert not torch.allclose(on(x).descriptor, ref, atol=1e-4)  # the path is live
        on.gcn.gamma.zero_()  # close the GCN path ...
        on.smooth = None  # ... and take the smoothing out: the rest is the same model
        assert torch.allclose(on(x).descriptor, ref, atol=1e-5)


def test_both_switches_train_end_to_end_with_the_trainer(tmp_path):
    from engine.training.batches import Augment
    from engine.training.config import LabelledConfig, TrainConfig
    from engine.training.data import FolderDataset
    from engine.training.generator import write_training_set
    from engine.training.trainer import Trainer

    write_training_set(tmp_path / "data", classes=4, per_class=4, size=(80, 60))
    cfg = TrainConfig(
        method="cider",
        backbone="resnet18",
        epochs=2,
        image_size=64,
        batch_size=4,
        workers=0,
        pretrained="none",
        labelled=LabelledConfig(
            val_fraction=0.0,
            augment=Augment(False, (0.5, 1.0), False, 0.0),
            arcface_margin=0.1,
            arcface_scale=16,
        ),
        arch_params={"smoothing": True, "gcn": True},
    )
    res = Trainer(cfg, FolderDataset(tmp_path / "data"), tmp_path / "out").run()
    assert all(math.isfinite(h["loss"]) for h in res.history)
    from engine.network.checkpoint import load_checkpoint

    model = load_checkpoint(tmp_path / "out" / "model")
    assert model.smooth is not None and model.gcn is not None
    init = create_model(model.config)
    moved = [
        k
        for k, v in model.state_dict().items()
        if k.startswith(("smooth.", "gcn."))
        and v.is_floating_point()
        and not torch.equal(v, init.state_dict()[k])
    ]
    assert any(k.startswith("smooth.") for k in moved)
    assert any(k.startswith("gcn.") for k in moved)
