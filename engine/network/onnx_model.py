"""A network as an ONNX model: exported once from PyTorch beside its checkpoint
(``model.onnx``), run by ONNX Runtime wherever the product runs — the light install has no
PyTorch at all.

The exported graph takes one normalised photo ``image (1, 3, H, W)`` of any size and gives
``descriptor (1, D)``, ``attention (1, h, w)`` and ``features (1, C, h, w)``; the sizes are
symbolic (the dynamo exporter, opset 18), so nothing is baked in at the export size. Scales
are resized outside the graph with Pillow's antialiased bilinear filter on the normalised
floats, which reproduces ``torch.nn.functional.interpolate(..., antialias=True)`` (measured:
descriptor cosine 1.000000 on 20 real photos for UGALR's five scales). The model's
fingerprint — what library vectors are keyed by — is stored in the file's metadata, so a
library indexed through PyTorch keeps its vectors.

The graph holds no copy of the weights: each initializer is ONNX external data at its
tensor's byte range inside ``model.safetensors`` (float16 tensors behind a Cast, which ONNX
Runtime folds at load, as it folds batch norms into convolutions), so the bundled default
ships its 11 M weights once. ``weights_layout`` in the metadata says which layout of that file
the graph expects; a checkpoint whose weights file was rewritten differently is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from engine.atomic import write_atomically
from engine.errors import CheckpointError
from engine.network.extraction import Extraction, ExtractorBase, Prepared, scaled_size
from engine.network.files import (
    ONNX_NAME,
    WEIGHTS_NAME,
    checkpoint_config,
    checkpoint_extra,
    safetensors_header,
    weights_layout,
)

OPSET = 18
INPUT = "image"
OUTPUTS = ("descriptor", "attention", "features")
#: the photo size the graph is traced at (any size runs: the sizes are symbolic)
EXPORT_HW = (384, 512)


# --------------------------------------------------------------------------- export (torch)


def export_onnx(model, directory: str | os.PathLike, fingerprint: str, half: bool = False) -> Path:
    """Write ``directory/model.onnx`` for ``model`` (a ``RetrievalModel``; needs torch, onnx and
    onnxscript: the ``train`` extra), its weights read from ``directory/model.safetensors``
    where that file holds them (``_share_weights``). Tensors the file lacks are stored in the
    graph, as float16 with ``half`` (ONNX Runtime turns them back to float32 at load)."""
    import onnx
    import torch

    class Outputs(torch.nn.Module):
        def __init__(self, net) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            out = self.net(x)
            return out.descriptor.float(), out.attention.float(), out.features.float()

    wrapper = Outputs(model).eval()  # a new module starts in training mode
    if any(m.training for m in wrapper.modules()):
        raise CheckpointError("the model is in training mode; export needs eval()")
    x = torch.randn(1, 3, *EXPORT_HW)
    h = torch.export.Dim("H", min=16, max=8192)
    w = torch.export.Dim("W", min=16, max=8192)
    program = torch.onnx.export(
        wrapper,
        (x,),
        None,
        dynamo=True,
        opset_version=OPSET,
        input_names=[INPUT],
        output_names=list(OUTPUTS),
        dynamic_shapes={"x": {2: h, 3: w}},
        optimize=False,  # batch norms kept apart from convolutions: their weights are shared
        verbose=False,
    )
    graph = program.model_proto
    _strip_provenance(graph)
    meta = {"fingerprint": fingerprint, "config": json.dumps(model.config.to_dict())}
    weights = Path(directory) / WEIGHTS_NAME
    if weights.is_file() and _share_weights(graph, weights):
        meta["weights_layout"] = weights_layout(directory)
    if half:
        _store_half(graph)
    for k, v in meta.items():
        graph.metadata_props.add(key=k, value=v)
    out = Path(directory) / ONNX_NAME
    write_atomically(out, lambda p: onnx.save(graph, p))
    return out


def _strip_provenance(graph) -> None:
    """Drop what the exporter records of the machine that exported: each node's Python stack
    trace and source names (file paths of this checkout and its environment)."""
    for node in graph.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    for info in [*graph.graph.value_info, *graph.graph.input, *graph.graph.output]:
        del info.metadata_props[:]
    del graph.graph.metadata_props[:]


#: safetensors type → ONNX type of the tensors a graph can read in place
_ONNX_TYPES = {"F32": 1, "F16": 10, "BF16": 16, "I64": 7}


def _share_weights(graph, weights: Path) -> int:
    """Point each initializer ``net.<name>`` at tensor ``<name>`` of ``weights`` (same shape)
    as ONNX external data; one stored in another float type gets a Cast to the graph's type.
    Returns how many are shared (the others stay in the graph)."""
    from onnx import TensorProto, helper

    header, base, _ = safetensors_header(weights)
    g = graph.graph
    kept, casts = [], []
    for init in list(g.initializer):
        entry = header.get(init.name.removeprefix("net."))
        kind = _ONNX_TYPES.get(entry["dtype"]) if entry else None
        if kind is None or list(entry["shape"]) != list(init.dims):
            kept.append(init)
            continue
        t = TensorProto(name=init.name, data_type=kind, dims=list(init.dims))
        if kind != init.data_type:
            t.name = f"{init.name}__stored"
            casts.append(helper.make_node("Cast", [t.name], [init.name], to=init.data_type))
        t.data_location = TensorProto.EXTERNAL
        start, end = entry["data_offsets"]
        for key, value in (("location", WEIGHTS_NAME), ("offset", base + start)):
            t.external_data.add(key=key, value=str(value))
        t.external_data.add(key="length", value=str(end - start))
        kept.append(t)
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)
    return sum(1 for t in kept if t.data_location == TensorProto.EXTERNAL)


def _store_half(graph) -> None:
    """Float32 initializers stored as float16, each turned back by a Cast node (which ONNX
    Runtime folds at load: the same speed, half the file)."""
    from onnx import TensorProto, helper, numpy_helper

    g = graph.graph
    kept, casts = [], []
    for init in list(g.initializer):
        if init.data_location == TensorProto.EXTERNAL or init.data_type != TensorProto.FLOAT:
            kept.append(init)
            continue
        a = numpy_helper.to_array(init)
        if a.size < 16:
            kept.append(init)
            continue
        half = numpy_helper.from_array(a.astype(np.float16), f"{init.name}__fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(casts + nodes)


# --------------------------------------------------------------------------- inference


@dataclass
class NetworkInfo:
    """What the rest of the engine reads of a network run through ONNX Runtime (in place of
    the torch module): its descriptor width, config and how it was trained."""

    num_features: int
    config: object
    checkpoint_extra: dict = field(default_factory=dict)
    backbone: object = None  # no ImageNet flag: a checkpoint's weights come from its file


@dataclass(frozen=True)
class Fp32:
    """ONNX Runtime runs the exported graph in float32."""

    name: str = "fp32"


def ort_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxExtractor(ExtractorBase):
    """Extraction through ONNX Runtime from a checkpoint directory holding ``model.onnx``.

    ``device``: ``auto`` uses the CUDA execution provider when this onnxruntime build has it
    (``onnxruntime-gpu``), else the CPU; ``threads``: intra-op threads (default: the cores
    this process may use), spinning off so an idle window uses no CPU.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        device: str = "auto",
        threads: int | None = None,
        image_size: int | None = None,
    ) -> None:
        import onnxruntime as ort

        from engine.cores import available_cores

        d = Path(directory)
        path = d / ONNX_NAME
        if not path.is_file():
            raise CheckpointError(f"{path}: missing (export it with `visual-search models import`)")
        cfg = checkpoint_config(d)
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads or available_cores())
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        if device in ("auto", "cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        elif device == "cuda":
            raise CheckpointError(
                "CUDA was requested but this onnxruntime has no CUDA provider; use --device cpu"
            )
        try:
            self.session = ort.InferenceSession(str(path), so, providers=providers)
        except Exception as e:
            raise CheckpointError(f"{path}: not a usable ONNX model ({e})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        layout = meta.get("weights_layout")
        if layout is not None and layout != weights_layout(d):
            raise CheckpointError(
                f"{path}: exported for another layout of {WEIGHTS_NAME}; export it again "
                f"with `visual-search models import {d}`"
            )
        self.fingerprint: str | None = meta.get("fingerprint")
        self.config = cfg
        self.image_size = int(image_size or cfg.image_size)
        self.scales = tuple(float(s) for s in (cfg.scales or (1.0,)))
        self.batch_size = 1
        self.mean = np.asarray(cfg.mean, np.float32).reshape(3, 1, 1)
        self.std = np.asarray(cfg.std, np.float32).reshape(3, 1, 1)
        out_dim = self.session.get_outputs()[0].shape[-1]
        dim = int(out_dim) if isinstance(out_dim, int) else int(cfg.descriptor_dim or 0)
        self.model = NetworkInfo(dim, cfg, checkpoint_extra(d))
        self.device = "cuda" if self.session.get_providers()[0].startswith("CUDA") else "cpu"
        self.precision = Fp32()
        self.runtime = f"ONNX Runtime {ort.__version__} on {self.device.upper()}"

    def _normalised(self, pixels) -> np.ndarray:
        """``(H, W, 3) uint8`` → ``(3, H, W) float32`` normalised."""
        x = np.asarray(pixels, np.float32).transpose(2, 0, 1) / np.float32(255.0)
        return np.ascontiguousarray((x - self.mean) / self.std, np.float32)

    @staticmethod
    def _resized(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Each channel resized with Pillow's bilinear filter (antialiased when shrinking)."""
        h, w = size
        chans = [
            np.asarray(Image.fromarray(c, mode="F").resize((w, h), Image.Resampling.BILINEAR))
            for c in x
        ]
        return np.ascontiguousarray(np.stack(chans), np.float32)

    def _forward(self, x: np.ndarray, with_features: bool):
        names = list(OUTPUTS) if with_features else list(OUTPUTS[:2])
        out = self.session.run(names, {INPUT: x[None]})
        return out[0][0], out[1][0], (out[2][0] if with_features else None)

    def run(self, prepared: Sequence[Prepared], with_features: bool = False) -> list[Extraction]:
        """Extract every prepared photo, one at a time (the CPU gains nothing from batches)."""
        ref = min(range(len(self.scales)), key=lambda i: abs(self.scales[i] - 1.0))
        results = []
        for p in prepared:
            x = self._normalised(p.pixels)
            h, w = x.shape[1:]
            desc = attention = features = None
            for i, s in enumerate(self.scales):
                xs = x if s == 1.0 else self._resized(x, scaled_size(h, w, s))
                d, a, f = self._forward(xs, with_features and i == ref)
                desc = d if desc is None else desc + d
                if i == ref:
                    attention, features = a, f
            desc = desc / max(float(np.linalg.norm(desc)), 1e-6)
            results.append(
                Extraction(
                    descriptor=np.ascontiguousarray(desc, np.float32),
                    attention=np.ascontiguousarray(attention, np.float32),
                    features=None if features is None else np.ascontiguousarray(features),
                    input_size=(int(w), int(h)),
                    original_size=p.original_size,
                    box=p.box,
                    source=p.source,
                    notes=p.notes,
                )
            )
        return results
