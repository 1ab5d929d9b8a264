"""Model configuration: everything needed to rebuild a model (a checkpoint's config.json)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

SCHEMA_VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ModelConfig:
    """A model: architecture + backbone + hyper-parameters + preprocessing.

    ``descriptor_dim`` and ``scales`` default per architecture (``resolved()`` fills them).
    ``pretrained`` only matters when a model is built fresh (``none`` / ``cache`` / ``download``);
    a checkpoint carries its own weights.
    """

    architecture: str = "gem"
    backbone: str | None = None
    descriptor_dim: int | None = None
    image_size: int = 1024
    scales: tuple[float, ...] | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    pretrained: str = "cache"
    arch_params: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def resolved(self) -> ModelConfig:
        """A copy with every default filled in and every value checked."""
        from .models import registry

        entry = registry.get_entry(self.architecture)
        params = registry.make_params(self.architecture, self.arch_params)
        backbone = self.backbone or entry.default_backbone
        from .models.backbones import BACKBONES

        if backbone not in BACKBONES:
            raise ConfigError(f"unknown backbone {backbone!r}; choose from {', '.join(BACKBONES)}")
        scales = tuple(float(s) for s in (self.scales or entry.default_scales))
        if not scales or any(s <= 0 for s in scales):
            raise ConfigError(f"scales must be positive numbers, got {scales}")
        if not 32 <= int(self.image_size) <= 8192:
            raise ConfigError(f"image_size must be between 32 and 8192, got {self.image_size}")
        if self.descriptor_dim is not None and int(self.descriptor_dim) <= 0:
            raise ConfigError(f"descriptor_dim must be positive, got {self.descriptor_dim}")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise ConfigError("mean and std need three values each, std positive")
        return dataclasses.replace(
            self,
            backbone=backbone,
            scales=scales,
            image_size=int(self.image_size),
            mean=tuple(float(v) for v in self.mean),
            std=tuple(float(v) for v in self.std),
            arch_params=dataclasses.asdict(params),
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("pretrained")
        d["scales"] = list(d["scales"]) if d["scales"] is not None else None
        d["mean"], d["std"] = list(d["mean"]), list(d["std"])
        d["arch_params"] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in d["arch_params"].items()
        }
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        if not isinstance(d, dict):
            raise ConfigError("model config must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        version = d.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ConfigError(
                f"config schema version {version!r} is newer than this program understands "
                f"({SCHEMA_VERSION}); update visual-search"
            )
        d = dict(d)
        for key in ("scales", "mean", "std"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        d.setdefault("arch_params", {})
        return cls(**d)
