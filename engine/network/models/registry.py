"""Model registry: architectures by name, each with a hyper-parameter dataclass and the facts
training needs about it.

``@register_model("name", Params, ...)`` on a builder ``fn(config) -> RetrievalModel``;
``create_model(config)`` builds one; ``list_models()`` names them. Everything that differs per
architecture (default margin, auxiliary loss, CiDeR-FT head, the papers' training backbone) is
in its :class:`ArchEntry`, so adding an architecture touches its own file and one import line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.errors import ConfigError
from engine.network.catalog import ARCHITECTURES


@dataclass(frozen=True)
class AuxLoss:
    """Intermediate supervision on ``ModelOutput.aux[output]`` (a ``(B, model.aux_dims[output])``
    embedding), added as ``weight`` × the main objective on it: cross-entropy through a linear
    classifier on labelled sets, InfoNCE on generated objects (``L = L_g + λ L_a``)."""

    output: str
    weight: float


@dataclass(frozen=True)
class ArchEntry:
    name: str
    builder: Callable
    params_cls: type
    description: str
    default_backbone: str
    default_scales: tuple[float, ...]
    #: the paper's ArcFace margin (used when a training run does not set one)
    arcface_margin: float = 0.3
    #: the auxiliary loss training adds, if any
    aux_loss: AuxLoss | None = None
    #: ``fn(model) -> [modules]`` CiDeR-FT's second stage trains (the rest stays frozen);
    #: None: the architecture has no two-stage schedule
    finetune_head: Callable[[Any], list[nn.Module]] | None = None
    #: the papers' training backbone and image size (the training wizard's defaults)
    train_backbone: str = "resnet101"
    train_image_size: int = 512
    #: one plain sentence for people choosing a model (``description`` is the architecture)
    summary: str = ""


_REGISTRY: dict[str, ArchEntry] = {}


def register_model(
    name: str,
    params_cls: type,
    default_backbone: str = "resnet50",
    default_scales: tuple[float, ...] = (1.0,),
    *,
    arcface_margin: float = 0.3,
    aux_loss: AuxLoss | None = None,
    finetune_head: Callable[[Any], list[nn.Module]] | None = None,
    train_backbone: str = "resnet101",
    train_image_size: int = 512,
) -> Callable:
    """Register ``fn(config) -> RetrievalModel`` under ``name`` (see :class:`ArchEntry`); its
    description and summary are the catalog's (``engine.network.catalog``)."""
    known = ARCHITECTURES[name]

    def deco(fn: Callable) -> Callable:
        _REGISTRY[name] = ArchEntry(
            name,
            fn,
            params_cls,
            known.description,
            default_backbone,
            tuple(default_scales),
            arcface_margin=arcface_margin,
            aux_loss=aux_loss,
            finetune_head=finetune_head,
            train_backbone=train_backbone,
            train_image_size=train_image_size,
            summary=known.summary,
        )
        return fn

    return deco


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_entry(name: str) -> ArchEntry:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown architecture {name!r}; choose from {', '.join(list_models())}")
    return _REGISTRY[name]


def make_params(name: str, values: dict | None = None):
    """The architecture's hyper-parameter dataclass, defaults overridden by ``values``."""
    cls = get_entry(name).params_cls
    values = dict(values or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown {name} hyper-parameter(s): {', '.join(unknown)}")
    for key, val in list(values.items()):
        if isinstance(val, list):
            values[key] = tuple(val)
    return cls(**values)


def create_model(config, seed: int | None = 0):
    """Build the model described by ``config`` (an ``engine.network.config.ModelConfig``).

    Randomly initialised parts are drawn from a fixed ``seed`` so that the same config always
    gives the same untrained network (``seed=None`` uses the global RNG).
    """
    entry = get_entry(config.architecture)
    if seed is None:
        model = entry.builder(config)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = entry.builder(config)
    # record the dimension the architecture chose, so saved configs are complete
    model.config = dataclasses.replace(model.config, descriptor_dim=int(model.num_features))
    return model
