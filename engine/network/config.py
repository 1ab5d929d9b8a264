"""Model configuration: everything needed to rebuild a model (a checkpoint's config.json)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError, InputFileError
from engine.inputs import MAX_JSON_BYTES, MAX_JSON_DEPTH  # noqa: F401 - their old home
from engine.inputs import loads_json as _bounded_loads

SCHEMA_VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Sane bounds: a config file is user input, and every size in it becomes an allocation.
MAX_IMAGE_SIZE = 8192
MAX_DESCRIPTOR_DIM = 16384
SCALE_RANGE = (0.1, 2.0)
MAX_SCALES = 8
#: upper bound of an integer hyper-parameter (channel widths); narrower ones below
MAX_WIDTH = 8192
PARAM_LIMITS = {"smoothing_kernel": 15, "gcn_nodes": 1024, "gcn_layers": 16, "sk_branches": 8}
MAX_PARAM_ITEMS = 16


def loads_json(text: str | bytes, where: str) -> Any:
    """``engine.inputs.loads_json`` (bounded nesting and size) with its refusal as a
    ``ConfigError`` naming ``where``."""
    try:
        return _bounded_loads(text, where)
    except InputFileError as e:
        raise ConfigError(str(e)) from None


def _bounded_int(name: str, value: Any, lo: int, hi: int) -> int:
    """``value`` as an int in ``[lo, hi]`` (an integral float such as ``1e3`` counts)."""
    ok = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not ok or not lo <= value <= hi:
        raise ConfigError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    return int(value)


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _number(v: Any) -> bool:
    """A JSON number (bounds and finiteness are checked where the field is used)."""
    return not isinstance(v, bool) and isinstance(v, (int, float))


def _numbers(v: Any, count: int | None = None) -> bool:
    return (
        isinstance(v, (list, tuple))
        and (count is None or len(v) == count)
        and all(_number(x) for x in v)
    )


def _param_value(v: Any) -> bool:
    return v is None or isinstance(v, bool) or _number(v) or _numbers(v)


#: what each field of a config file may hold (JSON types), checked before any is used
_FIELD_TYPES = {
    "architecture": ("a name", lambda v: isinstance(v, str)),
    "backbone": ("a name", lambda v: v is None or isinstance(v, str)),
    "descriptor_dim": ("a number", lambda v: v is None or _number(v)),
    "image_size": ("a number", _number),
    "scales": ("a list of numbers", lambda v: v is None or _numbers(v)),
    "mean": ("three numbers", lambda v: _numbers(v, 3)),
    "std": ("three numbers", lambda v: _numbers(v, 3)),
    "pretrained": ("a word", lambda v: isinstance(v, str)),
    "arch_params": (
        "an object of numbers, true/false or lists of numbers",
        lambda v: isinstance(v, dict) and all(_param_value(x) for x in v.values()),
    ),
}


def _check_field_types(d: dict[str, Any]) -> None:
    for key, (want, ok) in _FIELD_TYPES.items():
        if key in d and not ok(d[key]):
            got = json.dumps(d[key], default=str)
            got = got if len(got) <= 40 else got[:39] + "…"
            raise ConfigError(f"{key} must be {want}, got {got}")


def check_arch_params(params: Any) -> None:
    """Bounds for an architecture's hyper-parameters (a dataclass): widths, counts, finite
    floats, short tuples."""
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, str):  # no hyper-parameter is text
            raise ConfigError(f"{f.name} must be a number, got {value!r}")
        if isinstance(value, (tuple, list)):
            if len(value) > MAX_PARAM_ITEMS:
                raise ConfigError(f"{f.name} has {len(value)} values, at most {MAX_PARAM_ITEMS}")
            for v in value:
                _finite(f.name, v)
        elif isinstance(value, int):
            _bounded_int(f.name, value, 0, PARAM_LIMITS.get(f.name, MAX_WIDTH))
        else:
            _finite(f.name, value)


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
        from engine.network.models import registry

        entry = registry.get_entry(self.architecture)
        params = registry.make_params(self.architecture, self.arch_params)
        backbone = self.backbone or entry.default_backbone
        from engine.network.models.backbones import BACKBONES

        if backbone not in BACKBONES:
            raise ConfigError(f"unknown backbone {backbone!r}; choose from {', '.join(BACKBONES)}")
        check_arch_params(params)
        scales = tuple(_finite("scales", s) for s in (self.scales or entry.default_scales))
        lo, hi = SCALE_RANGE
        if not scales or len(scales) > MAX_SCALES or any(not lo <= s <= hi for s in scales):
            raise ConfigError(
                f"scales must be 1 to {MAX_SCALES} numbers from {lo} to {hi}, got {list(scales)}"
            )
        size = _bounded_int("image_size", self.image_size, 32, MAX_IMAGE_SIZE)
        dim = self.descriptor_dim
        if dim is not None:
            dim = _bounded_int("descriptor_dim", dim, 1, MAX_DESCRIPTOR_DIM)
        mean = tuple(_finite("mean", v) for v in self.mean)
        std = tuple(_finite("std", v) for v in self.std)
        if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
            raise ConfigError("mean and std need three values each, std positive")
        return dataclasses.replace(
            self,
            backbone=backbone,
            descriptor_dim=dim,
            scales=scales,
            image_size=size,
            mean=mean,
            std=std,
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
        _check_field_types(d)
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
