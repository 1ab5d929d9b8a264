"""The retrieval networks (CiDeR, UGALR, GeM) behind a registry: configs, checkpoints,
ImageNet weights, the device they run on, extraction, attention maps and the seed method."""

from engine.lazy import attach

#: public name → the module that defines it (imported on first use)
_SOURCES = {
    "ARCHITECTURES": "engine.network.catalog",
    "architecture_names": "engine.network.catalog",
    "torch_available": "engine.network.loader",
    "describe_runtime": "engine.network.loader",
    "BACKBONE_NAMES": "engine.network.weights",
    "DownloadError": "engine.network.weights",
    "Extractor": "engine.network.extract",
    "ModelConfig": "engine.network.config",
    "create_model": "engine.network.models.registry",
    "cuda_unavailable_reason": "engine.network.runtime",
    "device_kind": "engine.network.runtime",
    "download": "engine.network.weights",
    "download_backbone": "engine.network.weights",
    "get_entry": "engine.network.models.registry",
    "list_models": "engine.network.models.registry",
    "load_checkpoint": "engine.network.checkpoint",
    "resolve_model": "engine.network.checkpoint",
    "weights_info": "engine.network.weights",
    "weights_present": "engine.network.weights",
}

__all__ = sorted(_SOURCES)

__getattr__, __dir__ = attach(__name__, _SOURCES)
