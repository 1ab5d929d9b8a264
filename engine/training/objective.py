"""The training objective: a model plus its training heads, whose ``forward`` is the loss.

* Labelled sets: ArcFace on the descriptor, plus the architecture's auxiliary loss (the
  registry's :class:`~engine.models.registry.AuxLoss`) as λ · cross-entropy through a linear
  head on that embedding. CiDeR-FT's first stage trains the backbone with a plain classifier
  on GeM features; its second stage trains the architecture's ``finetune_head`` alone.
* Generated objects: instance discrimination (multi-positive InfoNCE) on the descriptor, plus
  λ × the same on the auxiliary embedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models import get_entry
from ..models.layers import gem
from .config import TrainConfig
from .heads import ArcFaceHead, LinearHead
from .losses import multi_positive_infonce, retrieval_accuracy


class TrainModule(nn.Module):
    """The model plus its training heads; ``forward(x, y)`` returns ``(loss, accuracy)``."""

    def __init__(self, model, cfg: TrainConfig, num_classes: int | None) -> None:
        """``cfg`` resolved; ``num_classes=None``: instance discrimination, no class heads."""
        super().__init__()
        entry = get_entry(cfg.method)
        lab = cfg.labelled
        self.model = model
        self.contrastive = num_classes is None
        self.temperature = cfg.generated.temperature
        self.aux_output = entry.aux_loss.output if entry.aux_loss is not None else None
        self.aux_weight = cfg.aux_weight
        self.stage = 2 if not lab.cider_ft else 1
        #: what stays fixed (and in eval mode) in stage 2
        self.frozen: list[nn.Module] = []
        if lab.cider_ft:
            head = entry.finetune_head(model)
            self.frozen = [m for m in model.children() if not any(m is h for h in head)]
        elif cfg.freeze_backbone:
            self.frozen = [model.backbone]
        self.arcface = self.aux = self.classifier = None
        if self.contrastive:
            return
        self.arcface = ArcFaceHead(
            model.num_features, num_classes, lab.arcface_margin, lab.arcface_scale
        )
        if self.aux_output is not None:
            self.aux = LinearHead(model.aux_dims[self.aux_output], num_classes)
        self.classifier = LinearHead(model.feature_dim, num_classes) if lab.cider_ft else None

    def set_stage(self, stage: int) -> None:
        """Stage 1 trains everything; stage 2 leaves ``frozen`` alone."""
        self.stage = stage
        for m in self.frozen:
            m.requires_grad_(stage != 2)

    def train(self, mode: bool = True) -> TrainModule:
        super().train(mode)
        if mode and self.stage == 2:
            for m in self.frozen:
                m.eval()  # frozen batch-norm statistics too
        return self

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.contrastive:
            out = self.model(x)
            loss = multi_positive_infonce(out.descriptor, y, self.temperature)
            if self.aux_output is not None:  # the same objective on the auxiliary embedding, × λ
                aux = F.normalize(out.aux[self.aux_output].float(), dim=1)
                loss = loss + self.aux_weight * multi_positive_infonce(aux, y, self.temperature)
            return loss, retrieval_accuracy(out.descriptor, y)
        if self.stage == 1 and self.classifier is not None:
            # CiDeR-FT stage 1: the backbone learns with a plain classifier on GeM features
            logits = self.classifier(gem(self.model.backbone(x)))
            return F.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean()
        out = self.model(x)
        logits = self.arcface(out.descriptor, y)
        loss = F.cross_entropy(logits, y)
        if self.aux is not None:
            aux_logits = self.aux(out.aux[self.aux_output])
            loss = loss + self.aux_weight * F.cross_entropy(aux_logits, y)
        with torch.no_grad():
            acc = (self.arcface(out.descriptor).argmax(1) == y).float().mean()
        return loss, acc
