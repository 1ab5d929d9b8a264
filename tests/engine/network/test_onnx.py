"""Every architecture runs in ONNX Runtime as it runs in PyTorch: exported with symbolic
sizes, the same descriptor and attention at any photo size the product feeds — wide, tall,
small enough for a one-cell feature map at the smallest scale, and with the spatial-context
switches (the GCN's top-k over fewer positions than it keeps)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.bench.onnx import variant_checkpoint
from engine.network.checkpoint import load_checkpoint
from engine.network.extract import Extractor
from engine.network.importing import MIN_ATTENTION_R, MIN_COSINE, parity
from engine.network.loader import choose_runtime, open_extractor
from engine.network.onnx_model import OnnxExtractor
from engine.training.generator import render_scene

SIZES = ((320, 240), (180, 300), (700, 40), (96, 96))


@pytest.fixture(scope="module")
def scenes():
    out = []
    for i, (w, h) in enumerate(SIZES):
        im, _ = render_scene([i + 3], seed=i, size=(max(w, 64), max(h, 64)))
        out.append(im.resize((w, h)))
    return out


@pytest.mark.parametrize(
    "arch,params",
    [("gem", {}), ("cider", {}), ("ugalr", {}), ("cider", {"smoothing": True, "gcn": True})],
)
def test_onnx_runtime_matches_pytorch(tmp_path, scenes, arch, params):
    d = variant_checkpoint(arch, params, tmp_path / arch)
    check = parity(d, scenes)
    assert check["min_cosine"] >= MIN_COSINE and check["min_attention_r"] >= MIN_ATTENTION_R
    ox = OnnxExtractor(d)
    tx = Extractor(load_checkpoint(d), device="cpu", precision="fp32")
    a = ox.extract_one(scenes[0], with_features=True)
    b = tx.extract_one(scenes[0], with_features=True)
    assert a.features.shape == b.features.shape and a.input_size == b.input_size
    assert np.allclose(a.features, b.features, atol=1e-3 * float(np.abs(b.features).max()))


def test_the_bundled_model_runs_through_onnx_with_the_fingerprint_of_its_weights():
    from engine.network.checkpoint import model_fingerprint, resolve_model

    assert choose_runtime("default", device="cpu") == "onnx"
    ex, fingerprint = open_extractor("default", device="cpu")
    assert isinstance(ex, OnnxExtractor)
    assert fingerprint == ex.fingerprint == model_fingerprint(resolve_model("default"))
    photo = Image.new("RGB", (64, 48), (200, 30, 30))
    assert ex.extract_one(photo).descriptor.shape == (512,)


def test_an_architecture_name_or_another_precision_runs_through_pytorch():
    assert choose_runtime("gem:resnet18") == "torch"
    assert choose_runtime("default", precision="bf16") == "torch"
    assert choose_runtime("default", runtime="torch") == "torch"


def test_the_graph_reads_its_weights_from_the_checkpoint_file(tmp_path, scenes):
    """One copy of the weights: every weight of the exported graph is external data inside
    model.safetensors; the graph runs new values written in the same layout, and refuses in
    one line a weights file of another layout."""
    import onnx
    import torch
    from safetensors.torch import load_file, save_file

    from engine.errors import CheckpointError
    from engine.network.checkpoint import write_onnx

    d = variant_checkpoint("gem", {}, tmp_path / "gem")
    graph = onnx.load(str(d / "model.onnx"), load_external_data=False)
    external = [t for t in graph.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    stored = sum(len(t.raw_data) for t in graph.graph.initializer)
    assert len(external) > 20 and stored < 64 * 1024
    assert (d / "model.onnx").stat().st_size < (d / "model.safetensors").stat().st_size / 20

    before = OnnxExtractor(d).extract_one(scenes[0]).descriptor
    weights = load_file(str(d / "model.safetensors"))
    name = next(k for k in weights if k.endswith("layer4.1.conv2.weight"))
    weights[name] = torch.flip(weights[name], dims=[0]).contiguous()  # same layout, new values
    save_file(weights, str(d / "model.safetensors"), metadata={"format": "pt"})
    after = OnnxExtractor(d).extract_one(scenes[0]).descriptor
    assert float(np.dot(before, after)) < 0.9999
    write_onnx(d)  # what PyTorch computes from the new values, through a fresh export
    assert np.allclose(OnnxExtractor(d).extract_one(scenes[0]).descriptor, after, atol=1e-5)

    weights["extra.tensor"] = torch.zeros(3)  # another layout: offsets move
    save_file(weights, str(d / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="export it again"):
        OnnxExtractor(d)
