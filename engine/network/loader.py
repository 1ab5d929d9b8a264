"""Which runtime runs a network, chosen once when it loads.

``open_extractor(spec)`` gives an extractor and the fingerprint its vectors are kept under:

* a checkpoint directory (the bundled ``default`` is one) with ``model.onnx`` runs through
  ONNX Runtime — on every CPU, with or without PyTorch installed; where an NVIDIA GPU is
  present and PyTorch is installed it runs through PyTorch on the GPU instead, as before;
* an architecture name (``gem``, ``cider:resnet101``: an untrained network), a checkpoint
  without ``model.onnx``, or a precision other than fp32 runs through PyTorch, and says in
  one line what to install where PyTorch is missing.

``runtime`` (or ``VISUAL_SEARCH_RUNTIME``) forces ``onnx`` or ``torch``.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

from engine.errors import ConfigError, NeedsTorch

RUNTIMES = ("auto", "onnx", "torch")


def torch_available() -> bool:
    """Whether PyTorch can be imported (importing it takes seconds: done once, when needed)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def gpu_plausible() -> bool:
    """An NVIDIA GPU seems present (its device files or driver tool), checked without
    importing PyTorch."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or shutil.which("nvidia-smi") is not None


def checkpoint_dir(spec: str | None) -> Path | None:
    """The checkpoint directory ``spec`` names (``default``: the bundled model), if any."""
    from engine.network.files import CONFIG_NAME

    spec = spec or "default"
    if spec == "default":
        from resources import resource_path

        d = resource_path("models", "default")
        return d if (d / CONFIG_NAME).is_file() else None
    path = Path(spec).expanduser()
    return path if path.is_dir() else None


def choose_runtime(
    spec: str | None, device: str = "auto", precision: str = "auto", runtime: str = "auto"
) -> str:
    """``onnx`` or ``torch`` for this model, device and precision (see the module)."""
    from engine.network.files import ONNX_NAME
    from engine.network.onnx_model import ort_available

    runtime = os.environ.get("VISUAL_SEARCH_RUNTIME", runtime) if runtime == "auto" else runtime
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    if runtime != "auto":
        return runtime
    d = checkpoint_dir(spec)
    onnx_ok = d is not None and (d / ONNX_NAME).is_file() and ort_available()
    if not onnx_ok or precision not in ("auto", "fp32"):
        return "torch"
    if device != "cpu" and gpu_plausible() and torch_available():
        return "torch"
    return "onnx"


def open_extractor(
    spec: str | None = None,
    device: str = "auto",
    precision: str = "auto",
    runtime: str = "auto",
    image_size: int | None = None,
    pretrained: str = "cache",
):
    """``(extractor, fingerprint)`` for the model ``spec`` names, on the chosen runtime
    (``image_size`` overrides the model's long side; ``pretrained`` is how an architecture
    name gets ImageNet weights: see ``checkpoint.resolve_model``)."""
    chosen = choose_runtime(spec, device, precision, runtime)
    if chosen == "onnx":
        from engine.network.files import WEIGHTS_NAME, fingerprint_from_files
        from engine.network.onnx_model import OnnxExtractor

        d = checkpoint_dir(spec)
        if d is None:
            raise ConfigError(f"{spec}: the onnx runtime runs checkpoint directories only")
        ex = OnnxExtractor(d, device=device, image_size=image_size)
        # the weights file is what PyTorch would load: the one truth when it is there
        if (d / WEIGHTS_NAME).is_file() or not ex.fingerprint:
            return ex, fingerprint_from_files(d)
        return ex, ex.fingerprint
    if not torch_available():
        raise NeedsTorch(f"running the model {spec or 'default'!r}")
    from engine.network.checkpoint import model_fingerprint, resolve_model
    from engine.network.extract import Extractor

    net = resolve_model(spec, pretrained=pretrained)
    ex = Extractor(net, device=device, precision=precision, image_size=image_size)
    return ex, model_fingerprint(net)


def describe_runtime(spec: str | None, device: str = "auto", precision: str = "auto") -> dict:
    """What would run the model ``spec``, told without loading it or importing PyTorch:
    ``{"runtime": "onnx" | "torch", "text": ...}``."""
    import importlib.util

    try:
        chosen = choose_runtime(spec, device, precision)
    except ConfigError as e:
        return {"runtime": None, "text": str(e)}
    if chosen == "onnx":
        import onnxruntime as ort

        cuda = device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers()
        where = "the GPU (CUDA execution provider)" if cuda else "the CPU"
        return {"runtime": "onnx", "text": f"ONNX Runtime {ort.__version__} on {where}"}
    try:
        installed = importlib.util.find_spec("torch") is not None
    except ValueError:  # a module set to None: importing it fails
        installed = False
    if not installed:
        return {"runtime": "torch", "text": str(NeedsTorch("this model"))}
    where = "the GPU" if device != "cpu" and gpu_plausible() else "the CPU"
    if device == "auto" and where == "the GPU":
        where = "the GPU where CUDA works, else the CPU"
    return {"runtime": "torch", "text": f"PyTorch on {where}"}
