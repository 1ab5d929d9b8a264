"""The training objective: a model plus its training heads, whose ``forward`` is the loss.

* Labelled sets: ArcFace on the descriptor, plus the architecture's auxiliary loss (the
  registry's :class:`~engine.network.models.registry.AuxLoss`) as λ · cross-entropy through a linear
  head on that embedding. CiDeR-FT's first stage trains the backbone with a plain classifier
  on GeM features; its second stage trains the architecture's ``finetune_head`` alone.
* Generated objects: instance discrimination (multi-positive InfoNCE) on the descriptor, plus
  λ × the same on the auxiliary embedding.
* Pairs mined from a library: ArcFace on the pseudo-classes and/or the contrastive loss of
  SfM-120k training over the batch's pairs, whose hard negatives (label -1 when they belong
  to no class) only ever push away.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.network.models import get_entry
from engine.network.models.layers import gem
from engine.training.config import TrainConfig
from engine.training.heads import ArcFaceHead, LinearHead
from engine.training.losses import contrastive_pairs, multi_positive_infonce, retrieval_accuracy


class TrainModule(nn.Module):
    """The model plus its training heads; ``forward(x, y)`` returns ``(loss, accuracy)``."""

    def __init__(
        self, model, cfg: TrainConfig, num_classes: int | None, mined: bool = False
    ) -> None:
        """``cfg`` resolved; ``num_classes=None``: instance discrimination, no class heads;
        ``mined``: pairs mined from a library (labels -1 are negatives only)."""
        super().__init__()
        loss = cfg.mined.loss if mined else "arcface"
        self.class_weight = 0.0 if loss == "contrastive" else 1.0
        self.pair_weight = (1.0 if loss == "contrastive" else cfg.mined.pair_weight) * (
            loss != "arcface"
        )
        self.margin = cfg.mined.margin
        self.mined = mined
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
        lab = y >= 0  # -1: a mined negative of no class
        if self.stage == 1 and self.classifier is not None:
            # CiDeR-FT stage 1: the backbone learns with a plain classifier on GeM features
            logits = self.classifier(gem(self.model.backbone(x)))[lab]
            return F.cross_entropy(logits, y[lab]), (logits.argmax(1) == y[lab]).float().mean()
        out = self.model(x)
        loss = out.descriptor.new_zeros(())
        if self.class_weight and lab.any():
            d, yl = out.descriptor[lab], y[lab]
            loss = loss + F.cross_entropy(self.arcface(d, yl), yl)
            if self.aux is not None:
                aux_logits = self.aux(out.aux[self.aux_output][lab])
                loss = loss + self.aux_weight * F.cross_entropy(aux_logits, yl)
        if self.pair_weight:
            loss = loss + self.pair_weight * contrastive_pairs(out.descriptor, y, self.margin)
            if self.aux is not None and not self.class_weight:  # UGALR keeps its second loss
                aux = F.normalize(out.aux[self.aux_output].float(), dim=1)
                loss = loss + self.aux_weight * contrastive_pairs(aux, y, self.margin)
        with torch.no_grad():
            if not self.mined:
                acc = (self.arcface(out.descriptor).argmax(1) == y).float().mean()
            elif lab.sum() > 1:  # the nearest labelled photo in the batch is of its class
                acc = retrieval_accuracy(out.descriptor[lab], y[lab])
            else:
                acc = loss.new_zeros(())
        return loss, acc
