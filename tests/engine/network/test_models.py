"""Every registered architecture on every backbone: shapes, unit norm, gradients, paper facts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.errors import ConfigError
from engine.network.config import ModelConfig
from engine.network.modelinfo import architecture_table
from engine.network.models import create_model, get_entry, list_models
from engine.network.models.backbones import BACKBONES, ResNetBackbone
from engine.network.weights import cached_weights_path
from engine.training.heads import ArcFaceHead, LinearHead

ARCHS = list_models()


def test_registry_has_the_three_papers_models():
    assert {"gem", "cider", "ugalr"} <= set(ARCHS)


@pytest.mark.parametrize("backbone", list(BACKBONES))
@pytest.mark.parametrize("arch", ARCHS)
def test_shapes_and_unit_norm(arch, backbone):
    cfg = ModelConfig(architecture=arch, backbone=backbone, pretrained="none").resolved()
    model = create_model(cfg).eval()
    c4 = BACKBONES[backbone].channels[-1]
    assert model.feature_dim == c4
    x = torch.randn(2, 3, 96, 128)
    with torch.inference_mode():
        out = model(x)
        desc = model.forward_descriptor(x)
        feats = model.forward_features(x)
        att = model.attention_map(x)
    assert out.descriptor.shape == (2, model.num_features)
    assert out.descriptor.dtype == torch.float32
    assert torch.allclose(out.descriptor.norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.allclose(desc, out.descriptor)
    assert feats.shape == (2, c4, 3, 4)
    assert att.ndim == 3 and att.shape[0] == 2
    assert float(att.min()) >= 0.0 and float(att.max()) <= 1.0


@pytest.mark.parametrize(
    ("arch", "dim", "attention_hw"),
    [("gem", 512, (3, 4)), ("cider", 512, (3, 4)), ("ugalr", 512, (6, 8))],
)
def test_papers_dimensions_and_attention_resolution(arch, dim, attention_hw):
    """On ResNet-18 (512 channels): GeM and CiDeR keep the backbone's width and attend on block
    4 (stride 32); UGALR whitens to 512 whatever the backbone and attends on block 3 (stride 16).
    """
    cfg = ModelConfig(architecture=arch, backbone="resnet18", pretrained="none").resolved()
    model = create_model(cfg).eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 96, 128))
    assert model.num_features == dim and out.attention.shape[1:] == attention_hw
    if arch == "ugalr":
        wide = ModelConfig(architecture=arch, backbone="resnet50", pretrained="none").resolved()
        assert create_model(wide).num_features == 512


def test_descriptor_dim_override():
    cfg = ModelConfig(
        architecture="gem", backbone="resnet18", descriptor_dim=128, pretrained="none"
    ).resolved()
    m = create_model(cfg).eval()
    with torch.inference_mode():
        assert m(torch.randn(1, 3, 64, 64)).descriptor.shape == (1, 128)


def test_same_config_same_untrained_weights():
    cfg = ModelConfig(architecture="cider", backbone="resnet18", pretrained="none").resolved()
    a, b = create_model(cfg), create_model(cfg)
    for (ka, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(va, vb), ka


def _loss(arch, model, out, labels):
    """The training objective of each model (its auxiliary loss from its registry entry),
    computed outside the modules inference needs."""
    arc = ArcFaceHead(model.num_features, 3, margin=0.3, scale=30.0)
    loss = F.cross_entropy(arc(out.descriptor, labels), labels)
    heads = [arc]
    aux = get_entry(arch).aux_loss
    if aux is not None:
        ce = LinearHead(model.aux_dims[aux.output], 3)
        loss = loss + aux.weight * F.cross_entropy(ce(out.aux[aux.output]), labels)
        heads.append(ce)
    return loss, heads


@pytest.mark.parametrize("arch", ARCHS)
def test_gradients_reach_every_trainable_parameter(arch):
    torch.manual_seed(0)
    cfg = ModelConfig(architecture=arch, backbone="resnet18", pretrained="none").resolved()
    model = create_model(cfg).train()
    x = torch.randn(4, 3, 128, 128)
    labels = torch.tensor([0, 1, 2, 0])
    out = model(x)
    loss, heads = _loss(arch, model, out, labels)
    loss.backward()
    dead = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or float(p.grad.abs().sum()) == 0.0)
    ]
    assert not dead, f"no gradient reached: {dead}"
    for h in heads:
        assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in h.parameters())


def test_ugalr_block4_receives_c_plus_one_channels():
    cfg = ModelConfig(architecture="ugalr", backbone="resnet50", pretrained="none").resolved()
    model = create_model(cfg).eval()
    seen = {}

    def hook(module, inputs, output):
        seen["channels"] = inputs[0].shape[1]

    model.backbone.layer4.register_forward_hook(hook)
    with torch.inference_mode():
        model(torch.randn(1, 3, 64, 64))
    assert seen["channels"] == 1024 + 1
    assert model.backbone.layer4[0].conv1.in_channels == 1025
    assert model.backbone.layer4[0].downsample[0].in_channels == 1025


def test_ugalr_intermediate_head_gets_gradients():
    cfg = ModelConfig(architecture="ugalr", backbone="resnet18", pretrained="none").resolved()
    model = create_model(cfg).train()
    out = model(torch.randn(2, 3, 96, 96))
    head = LinearHead(out.aux["local"].shape[1], 4)
    F.cross_entropy(head(out.aux["local"]), torch.tensor([1, 3])).backward()
    assert head.fc.weight.grad is not None and float(head.fc.weight.grad.abs().sum()) > 0
    for name in (
        "lalm.reduce.0.weight",
        "lalm.spatial.theta.weight",
        "lalm.channel.weight",
        "local_whiten.fc.weight",
    ):
        g = dict(model.named_parameters())[name].grad
        assert g is not None and float(g.abs().sum()) > 0, name


def test_widened_layer4_keeps_pretrained_behaviour():
    """Extra input channels start at zero: block 4 ignores O until training moves them."""
    bb = ResNetBackbone("resnet18", pretrained="none").eval()
    x3 = torch.randn(1, 256, 6, 6)
    with torch.inference_mode():
        before = bb.layer4(x3)
        bb.widen_layer4_input(1)
        after = bb.layer4(torch.cat([x3, torch.randn(1, 1, 6, 6)], dim=1))
    assert torch.allclose(before, after, atol=1e-6)


def test_cider_resnet101_parameters_near_paper_table():
    row = next(r for r in architecture_table(["resnet101"]) if r["name"] == "cider")
    assert row["backbone_params"] == pytest.approx(42.50e6, rel=1e-3)  # plain R101, Table A10
    # the paper's 46.12 M counts the network up to pooling (no whitening FC)
    assert row["params_without_whitening"] == pytest.approx(46.12e6, rel=0.01)


def test_unknown_architecture_backbone_and_params_refused():
    with pytest.raises(ConfigError, match="unknown architecture"):
        ModelConfig(architecture="vit").resolved()
    with pytest.raises(ConfigError, match="unknown backbone"):
        ModelConfig(architecture="gem", backbone="resnet7").resolved()
    with pytest.raises(ConfigError, match="thresholdz"):
        ModelConfig(architecture="cider", arch_params={"thresholdz": [0.1]}).resolved()


def test_imagenet_weights_only_from_the_local_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    bb = ResNetBackbone("resnet18", pretrained="cache")
    assert not bb.loaded_imagenet  # empty cache: random init, no download attempted
    # put a state dict where torchvision caches the weights file, then ask again
    import torchvision

    ref = torchvision.models.resnet18(weights=None)
    path = cached_weights_path("resnet18")
    assert str(tmp_path) in path
    import os

    os.makedirs(os.path.dirname(path))
    torch.save(ref.state_dict(), path)
    bb2 = ResNetBackbone("resnet18", pretrained="cache")
    assert bb2.loaded_imagenet
    assert torch.equal(bb2.layer1[0].conv1.weight, ref.layer1[0].conv1.weight)
    bb3 = ResNetBackbone("resnet18", pretrained="none")
    assert not bb3.loaded_imagenet
