"""What a training run is asked to do: a common part, and one part per kind of data.

* :class:`TrainConfig` — architecture, schedule, optimizer, device: every run.
* :class:`LabelledConfig` — labelled sets (folders, GLDv2): ArcFace over the classes, CiDeR-FT,
  the held-out split, augmentation.
* :class:`GeneratedConfig` — objects generated on the fly: instance discrimination, a fixed
  number of steps per epoch, views per object, the curriculum, the temperature.

Per-architecture defaults (ArcFace margin, auxiliary-loss weight) come from the model registry;
:meth:`TrainConfig.resolved` fills them in.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError
from engine.network.models import get_entry, list_models
from engine.training.batches import Augment
from engine.training.generated import VIEWS_ON, GeneratedSpec


@dataclass
class LabelledConfig:
    arcface_margin: float | None = None  # None: the architecture's (the registry's entry)
    arcface_scale: float = 30.0
    cider_ft: bool = False  # CiDeR-FT: backbone + classifier first, then the head alone
    ft_stage1_epochs: int = 0  # 0: half of the epochs
    val_fraction: float = 0.1
    augment: Augment = field(default_factory=Augment)


@dataclass
class GeneratedConfig:
    steps_per_epoch: int = 100
    views: int = 4  # photos of each identity per batch (a batch holds batch_size / views)
    curriculum: float = 0.5  # fraction of training over which views go from easy to hard
    temperature: float = 0.1  # of the contrastive loss
    #: where views are made: auto (the device on CUDA, else cpu), cpu (PIL in the loader) or
    #: device (batched on the training device; see engine.training.gpu_views). Not named
    #: ``augment``: a flat ``from_dict`` would hand that to ``LabelledConfig.augment``.
    views_on: str = "auto"

    def spec(self, batch_size: int, image_size: int) -> GeneratedSpec:
        return GeneratedSpec(
            identities=batch_size // self.views,
            views=self.views,
            image_size=image_size,
            ramp=self.curriculum,
            views_on=self.views_on,
        )


@dataclass
class MinedConfig:
    """Training on pairs mined from a library (``train library``)."""

    loss: str = "both"  # contrastive (with hard negatives), arcface (on pseudo-classes), both
    margin: float = 0.7  # τ of the contrastive loss, on the distance of unit descriptors
    pair_weight: float = 1.0  # of the contrastive loss next to ArcFace


@dataclass
class TrainConfig:
    method: str = "cider"  # an architecture of the registry
    backbone: str = "resnet50"
    epochs: int = 10
    image_size: int = 512
    batch_size: int = 32
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-5
    warmup_epochs: float = 1.0
    aux_weight: float | None = None  # λ of L = L_g + λ L_a; None: the architecture's
    freeze_backbone: bool = False  # train only what follows the backbone (heads, pooling)
    grad_clip: float = 10.0
    amp: bool = True  # bf16 autocast on CUDA (ignored on the CPU)
    seed: int = 0
    device: str = "auto"
    workers: int = 2
    pretrained: str = "cache"
    descriptor_dim: int | None = None
    checkpoint_minutes: float = 10.0
    arch_params: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "sgd"  # sgd (the papers') or adamw
    #: a model to start from (a checkpoint folder, or ``default``): its weights are copied
    #: into every layer of the same name and shape
    init_from: str | None = None
    labelled: LabelledConfig = field(default_factory=LabelledConfig)
    generated: GeneratedConfig = field(default_factory=GeneratedConfig)
    mined: MinedConfig = field(default_factory=MinedConfig)

    def check(self, generated: bool = False) -> None:
        """Raise ``ConfigError`` for a run that cannot work (``generated``: on generated data)."""
        if self.method not in list_models():
            raise ConfigError(f"method must be one of {', '.join(list_models())}")
        if self.epochs < 1 or self.batch_size < 2 or self.image_size < 32:
            raise ConfigError("need epochs ≥ 1, batch size ≥ 2 and image size ≥ 32")
        if self.labelled.cider_ft and get_entry(self.method).finetune_head is None:
            two_stage = [m for m in list_models() if get_entry(m).finetune_head is not None]
            raise ConfigError(
                f"the CiDeR-FT schedule applies to --method {' or '.join(two_stage)} only"
            )
        if self.optimizer not in ("sgd", "adamw"):
            raise ConfigError("optimizer must be sgd or adamw")
        if self.mined.loss not in ("contrastive", "arcface", "both"):
            raise ConfigError("the mined-pairs loss must be contrastive, arcface or both")
        if not 0 < self.mined.margin <= 2 or self.mined.pair_weight < 0:
            raise ConfigError("need a contrastive margin in (0, 2] and a pair weight ≥ 0")
        if generated:
            self._check_generated()

    def _check_generated(self) -> None:
        g = self.generated
        if self.labelled.cider_ft:
            raise ConfigError(
                "CiDeR-FT's first stage is a classifier over fixed classes; generated data has "
                "none (train on a folder set for CiDeR-FT)"
            )
        if g.views < 2 or self.batch_size % g.views or self.batch_size // g.views < 2:
            raise ConfigError(
                f"synthetic batches hold identities × views photos: --batch-size "
                f"{self.batch_size} must be a multiple of --views {g.views} "
                "with at least 2 identities"
            )
        if g.steps_per_epoch < 1 or g.temperature <= 0:
            raise ConfigError("need steps per epoch ≥ 1 and a positive temperature")
        if g.views_on not in VIEWS_ON:
            raise ConfigError(f"views must be made on {' or '.join(VIEWS_ON)}")

    def resolved(self) -> TrainConfig:
        """A copy with the architecture's defaults filled in (margin, auxiliary weight)."""
        entry = get_entry(self.method)
        margin = self.labelled.arcface_margin
        aux = self.aux_weight
        if aux is None and entry.aux_loss is not None:
            aux = entry.aux_loss.weight
        return dataclasses.replace(
            self,
            aux_weight=aux,
            labelled=dataclasses.replace(
                self.labelled, arcface_margin=entry.arcface_margin if margin is None else margin
            ),
        )

    def generated_spec(self) -> GeneratedSpec:
        return self.generated.spec(self.batch_size, self.image_size)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        aug = d["labelled"]["augment"]
        aug["crop_scale"] = list(aug["crop_scale"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """From :meth:`to_dict`'s layout, or a flat one (every field at the top level: the
        ``state.json`` of earlier versions, or overrides given as keyword arguments)."""
        d = dict(d)
        parts: dict[str, dict] = {}
        for name, part_cls in (
            ("labelled", LabelledConfig),
            ("generated", GeneratedConfig),
            ("mined", MinedConfig),
        ):
            part = dict(d.pop(name, None) or {})
            for f in dataclasses.fields(part_cls):
                if f.name in d:
                    part[f.name] = d.pop(f.name)
            parts[name] = part
        aug = parts["labelled"].pop("augment", None)
        if aug is not None and not isinstance(aug, Augment):
            aug = dict(aug)
            aug["crop_scale"] = tuple(aug.get("crop_scale", (0.5, 1.0)))
            aug = Augment(**aug)
        if aug is not None:
            parts["labelled"]["augment"] = aug
        return cls(
            **d,
            labelled=LabelledConfig(**parts["labelled"]),
            generated=GeneratedConfig(**parts["generated"]),
            mined=MinedConfig(**parts["mined"]),
        )
