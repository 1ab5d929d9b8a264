"""Training (plain Python, no Qt): ArcFace on the descriptor; UGALR adds λ·CE on its
intermediate embedding; SGD with momentum, warm-up then cosine; AMP on CUDA; gradient
clipping; a resumable state every epoch (and every few minutes); the CiDeR-FT two-stage
schedule; several processes through ``torchrun`` (PyTorch DDP, NCCL on GPUs, gloo on CPUs).

Progress goes to ``progress(event: dict)`` — ``{"kind": "step"|"epoch"|"done", "epoch",
"step", "steps", "loss", "accuracy", "lr", "images_per_s", "eta_s", ...}`` — and
``should_stop()`` is checked between steps: the GUI wizard uses exactly these.

Two kinds of data: a labelled set (folders, GLDv2) trained with ArcFace, or
:class:`~engine.training.synthetic.SyntheticData` — unlimited generated identities, trained with
instance discrimination (``multi_positive_infonce``), a fixed number of steps per epoch.

Output directory::

    out/model/            the latest model checkpoint (model.safetensors + config.json)
    out/state.safetensors the training state (heads, optimizer), with
    out/state.json        epoch, step, history and the training config
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from ..checkpoint import _atomic_write, load_checkpoint, save_checkpoint
from ..config import ModelConfig
from ..errors import ConfigError, VisualSearchError
from ..models import create_model
from ..models.layers import gem
from ..runtime import resolve_device
from .data import Augment, ImageBatches, LabelledSet, batch_loader, epoch_batches
from .heads import ArcFaceHead, LinearHead
from .synthetic import (
    SyntheticBatches,
    SyntheticData,
    SyntheticSpec,
    multi_positive_infonce,
    retrieval_accuracy,
)

METHODS = ("gem", "cider", "ugalr")
DEFAULT_MARGIN = {"gem": 0.3, "cider": 0.3, "ugalr": 0.15}

ProgressFn = Callable[[dict], None]
StopFn = Callable[[], bool]


@dataclass
class TrainConfig:
    method: str = "cider"
    backbone: str = "resnet50"
    epochs: int = 10
    image_size: int = 512
    batch_size: int = 32
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-5
    warmup_epochs: float = 1.0
    arcface_margin: float | None = None  # None: the paper's value for the method
    arcface_scale: float = 30.0
    aux_weight: float = 0.6  # λ of UGALR's L = L_g + λ L_a
    cider_ft: bool = False  # CiDeR-FT: backbone + classifier first, then the head alone
    ft_stage1_epochs: int = 0  # 0: half of the epochs
    freeze_backbone: bool = False  # train only what follows the backbone (heads, pooling)
    grad_clip: float = 10.0
    amp: bool = True  # bf16 autocast on CUDA (ignored on the CPU)
    seed: int = 0
    device: str = "auto"
    val_fraction: float = 0.1
    workers: int = 2
    pretrained: str = "cache"
    descriptor_dim: int | None = None
    augment: Augment = field(default_factory=Augment)
    checkpoint_minutes: float = 10.0
    arch_params: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "sgd"  # sgd (the papers') or adamw
    # synthetic data only: steps per epoch, photos of each identity per batch (the batch holds
    # batch_size / views identities), the curriculum ramp, the contrastive temperature
    steps_per_epoch: int = 100
    views: int = 4
    curriculum: float = 0.5
    temperature: float = 0.1

    def check(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}")
        if self.epochs < 1 or self.batch_size < 2 or self.image_size < 32:
            raise ConfigError("need epochs ≥ 1, batch size ≥ 2 and image size ≥ 32")
        if self.cider_ft and self.method != "cider":
            raise ConfigError("the CiDeR-FT schedule applies to --method cider only")
        if self.optimizer not in ("sgd", "adamw"):
            raise ConfigError("optimizer must be sgd or adamw")

    def check_synthetic(self) -> None:
        if self.cider_ft:
            raise ConfigError(
                "CiDeR-FT's first stage is a classifier over fixed classes; generated data has "
                "none (train on a folder set for CiDeR-FT)"
            )
        if self.views < 2 or self.batch_size % self.views or self.batch_size // self.views < 2:
            raise ConfigError(
                f"synthetic batches hold identities × views photos: --batch-size "
                f"{self.batch_size} must be a multiple of --views {self.views} "
                "with at least 2 identities"
            )
        if self.steps_per_epoch < 1 or self.temperature <= 0:
            raise ConfigError("need steps per epoch ≥ 1 and a positive temperature")

    def synthetic_spec(self) -> SyntheticSpec:
        return SyntheticSpec(
            identities=self.batch_size // self.views,
            views=self.views,
            image_size=self.image_size,
            ramp=self.curriculum,
        )

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["augment"]["crop_scale"] = list(d["augment"]["crop_scale"])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        aug = d.pop("augment", {})
        aug["crop_scale"] = tuple(aug.get("crop_scale", (0.5, 1.0)))
        return cls(**d, augment=Augment(**aug))


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warm-up to ``base`` over ``warmup`` steps, then cosine to zero."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


class TrainModule(nn.Module):
    """The model plus its training heads; ``forward`` returns the loss (training only)."""

    def __init__(self, model, cfg: TrainConfig, num_classes: int | None) -> None:
        """``num_classes=None``: instance discrimination (synthetic data), no class heads."""
        super().__init__()
        self.model = model
        self.contrastive = num_classes is None
        self.temperature = cfg.temperature
        self.aux_weight = cfg.aux_weight
        self.stage = 2 if not cfg.cider_ft else 1
        self.arcface = self.aux = self.classifier = None
        if self.contrastive:
            return
        margin = (
            cfg.arcface_margin if cfg.arcface_margin is not None else DEFAULT_MARGIN[cfg.method]
        )
        self.arcface = ArcFaceHead(model.num_features, num_classes, margin, cfg.arcface_scale)
        # UGALR's intermediate supervision: cross-entropy on the whitened local embedding
        self.aux = (
            LinearHead(model.local_whiten.fc.out_features, num_classes)
            if cfg.method == "ugalr"
            else None
        )
        self.classifier = LinearHead(model.feature_dim, num_classes) if cfg.cider_ft else None

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.contrastive:
            out = self.model(x)
            loss = multi_positive_infonce(out.descriptor, y, self.temperature)
            if "local" in out.aux:  # UGALR: the same objective on its local embedding, × λ
                local = F.normalize(out.aux["local"].float(), dim=1)
                loss = loss + self.aux_weight * multi_positive_infonce(local, y, self.temperature)
            return loss, retrieval_accuracy(out.descriptor, y)
        if self.stage == 1 and self.classifier is not None:
            # CiDeR-FT stage 1: the backbone learns with a plain classifier on GeM features
            logits = self.classifier(gem(self.model.backbone(x)))
            return F.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean()
        out = self.model(x)
        logits = self.arcface(out.descriptor, y)
        loss = F.cross_entropy(logits, y)
        if self.aux is not None:
            loss = loss + self.aux_weight * F.cross_entropy(self.aux(out.aux["local"]), y)
        with torch.no_grad():
            acc = (self.arcface(out.descriptor).argmax(1) == y).float().mean()
        return loss, acc


def _set_stage(tm: TrainModule, stage: int, freeze_backbone: bool = False) -> None:
    tm.stage = stage
    if tm.classifier is None and not freeze_backbone:
        return
    freeze = stage == 2
    for p in tm.model.backbone.parameters():
        p.requires_grad_(not freeze)
    if freeze:
        tm.model.backbone.eval()  # frozen batch-norm statistics too


@dataclass
class TrainResult:
    out: Path
    epochs_done: int
    history: list[dict]
    cancelled: bool


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


@dataclass
class _Feed:
    ds: ImageBatches | SyntheticBatches  # ds[batch] → (x, y, unreadable)
    batches: Callable[[int], list]  # epoch → this process's batches, in order
    val_accuracy: Callable[[TrainModule], float]
    images: int


class Trainer:
    def __init__(
        self, cfg: TrainConfig, data: LabelledSet | SyntheticData, out: str | os.PathLike
    ) -> None:
        cfg.check()
        self.synthetic = isinstance(data, SyntheticData)
        if self.synthetic:
            cfg.check_synthetic()
        self.cfg = cfg
        self.data = data
        self.out = Path(out)
        self.rank, self.world, self.local_rank = _dist_info()
        self.is_main = self.rank == 0

    # ----------------------------------------------------------------- state

    def _save_state(
        self, tm: TrainModule, opt, epoch: int, step: int, history: list[dict], save_model: bool
    ) -> None:
        if not self.is_main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        if save_model:
            save_checkpoint(
                tm.model,
                self.out / "model",
                extra={"classes": len(self.data.classes), "epoch": epoch},
            )
        tensors = {
            f"module.{k}": v.detach().cpu().contiguous().clone() for k, v in tm.state_dict().items()
        }
        osd = opt.state_dict()
        for idx, st in osd["state"].items():
            for name, v in st.items():
                if isinstance(v, torch.Tensor):
                    tensors[f"opt.{idx}.{name}"] = v.detach().cpu().contiguous().clone()
        _atomic_write(self.out / "state.safetensors", lambda p: save_file(tensors, p))
        meta = {
            "epoch": epoch,
            "step": step,
            "history": history,
            "train_config": self.cfg.to_dict(),
            "classes": self.data.classes,
            "param_groups": osd["param_groups"],
            "version": 1,
        }
        text = json.dumps(meta, indent=1)
        _atomic_write(self.out / "state.json", lambda p: Path(p).write_text(text))

    def _load_state(self, tm: TrainModule, opt) -> tuple[int, int, list[dict]]:
        meta_path, st_path = self.out / "state.json", self.out / "state.safetensors"
        if not meta_path.exists() or not st_path.exists():
            raise VisualSearchError(f"{self.out}: nothing to resume (no state.json)")
        meta = json.loads(meta_path.read_text())
        if meta.get("classes") != self.data.classes:
            raise VisualSearchError(
                f"{self.out}: the saved run used other classes; resume needs the same data set"
            )
        tensors = load_file(str(st_path))
        tm.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("module.")})
        osd = opt.state_dict()
        osd["param_groups"] = meta["param_groups"]
        state: dict[int, dict] = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, idx, name = k.split(".", 2)
                state.setdefault(int(idx), {})[name] = v
        osd["state"] = state
        opt.load_state_dict(osd)
        return int(meta["epoch"]), int(meta["step"]), list(meta["history"])

    # ----------------------------------------------------------------- run

    def run(
        self,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
        resume: bool = False,
    ) -> TrainResult:
        cfg = self.cfg
        progress = progress or (lambda e: None)
        should_stop = should_stop or (lambda: False)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        device = resolve_device(cfg.device)
        if self.world > 1:
            if device.type == "cuda":
                device = torch.device("cuda", self.local_rank)
                torch.cuda.set_device(device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        mcfg = ModelConfig(
            architecture=cfg.method,
            backbone=cfg.backbone,
            image_size=cfg.image_size,
            descriptor_dim=cfg.descriptor_dim,
            pretrained=cfg.pretrained,
            arch_params=cfg.arch_params,
        ).resolved()
        model = create_model(mcfg, seed=cfg.seed)
        tm = TrainModule(model, cfg, None if self.synthetic else len(self.data.classes)).to(device)
        params = [p for p in tm.parameters()]
        if cfg.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.SGD(
                params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
        start_epoch, start_step, history = 0, 0, []
        if resume:
            start_epoch, start_step, history = self._load_state(tm, opt)
        ddp = torch.nn.parallel.DistributedDataParallel(tm) if self.world > 1 else None
        net = ddp if ddp is not None else tm

        feed = self._feed(mcfg, device)
        steps_per_epoch = len(feed.batches(0))
        if steps_per_epoch == 0:
            raise VisualSearchError(
                f"not enough training images for one batch of {cfg.batch_size} per process "
                f"({feed.images} images); lower --batch-size"
            )
        total = steps_per_epoch * cfg.epochs
        warmup = round(cfg.warmup_epochs * steps_per_epoch)
        stage1 = (cfg.ft_stage1_epochs or max(1, cfg.epochs // 2)) if cfg.cider_ft else 0
        amp = cfg.amp and device.type == "cuda"
        t_start = time.perf_counter()
        images_seen = 0
        last_save = time.perf_counter()
        cancelled = False
        epoch = start_epoch
        for epoch in range(start_epoch, cfg.epochs):
            _set_stage(tm, 1 if epoch < stage1 else 2, cfg.freeze_backbone)
            tm.train()
            if tm.stage == 2 and (tm.classifier is not None or cfg.freeze_backbone):
                tm.model.backbone.eval()
            batches = feed.batches(epoch)
            first = start_step if epoch == start_epoch else 0
            losses, accs, bad = [], [], 0
            for step, (x, y, nbad) in enumerate(
                batch_loader(feed.ds, batches[first:], cfg.workers), start=first
            ):
                bad += nbad
                gstep = epoch * steps_per_epoch + step
                lr = lr_at(gstep, total, warmup, cfg.lr)
                for g in opt.param_groups:
                    g["lr"] = lr
                if x is None or len(x) < 2:
                    continue
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    loss, acc = net(x, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(
                        [p for p in tm.parameters() if p.grad is not None], cfg.grad_clip
                    )
                opt.step()
                losses.append(float(loss.detach()))
                accs.append(float(acc))
                images_seen += len(x) * self.world
                elapsed = time.perf_counter() - t_start
                done_steps = gstep + 1 - (start_epoch * steps_per_epoch + start_step)
                eta = elapsed / max(done_steps, 1) * (total - gstep - 1)
                progress(
                    {
                        "kind": "step",
                        "epoch": epoch,
                        "step": step,
                        "steps": steps_per_epoch,
                        "loss": losses[-1],
                        "accuracy": accs[-1],
                        "lr": lr,
                        "images_per_s": images_seen / max(elapsed, 1e-9),
                        "eta_s": eta,
                        "stage": tm.stage,
                    }
                )
                stop = should_stop()
                if self.world > 1:  # every rank stops at the same step
                    flag = torch.tensor([1.0 if stop else 0.0], device=device)
                    dist.all_reduce(flag)
                    stop = bool(flag.item())
                if stop:
                    self._save_state(tm, opt, epoch, step + 1, history, save_model=False)
                    cancelled = True
                    break
                if time.perf_counter() - last_save > 60 * cfg.checkpoint_minutes:
                    self._save_state(tm, opt, epoch, step + 1, history, save_model=False)
                    last_save = time.perf_counter()
            if cancelled:
                break
            if self.world > 1 and losses:  # report the mean over every process
                t = torch.tensor([float(np.mean(losses)), float(np.mean(accs))], device=device)
                dist.all_reduce(t)
                losses, accs = [float(t[0]) / self.world], [float(t[1]) / self.world]
            rec = {
                "epoch": epoch,
                "stage": tm.stage,
                "loss": float(np.mean(losses)) if losses else math.nan,
                "accuracy": float(np.mean(accs)) if accs else math.nan,
                "val_accuracy": feed.val_accuracy(tm),
                "unreadable": bad,
                "seconds": round(time.perf_counter() - t_start, 1),
            }
            history.append(rec)
            self._save_state(tm, opt, epoch + 1, 0, history, save_model=True)
            last_save = time.perf_counter()
            progress({"kind": "epoch", **rec})
        if self.world > 1:
            dist.barrier()
        progress({"kind": "done", "cancelled": cancelled, "history": history})
        return TrainResult(self.out, len(history), history, cancelled)

    def _feed(self, mcfg, device) -> _Feed:
        """Where batches come from: labelled images, or the generator (a batch per step)."""
        cfg = self.cfg
        if self.synthetic:
            n = cfg.steps_per_epoch
            total = n * cfg.epochs
            ds = SyntheticBatches(
                cfg.synthetic_spec(), mcfg.mean, mcfg.std, cfg.seed, total, self.rank
            )
            return _Feed(
                ds,
                lambda epoch: list(range(epoch * n, (epoch + 1) * n)),
                lambda tm: self._synthetic_val_accuracy(tm, mcfg, device),
                images=n * cfg.batch_size,
            )
        train_items, val_items = self.data.split(cfg.val_fraction, cfg.seed)
        ds = ImageBatches(train_items, cfg.image_size, mcfg.mean, mcfg.std, cfg.augment, cfg.seed)
        return _Feed(
            ds,
            lambda epoch: epoch_batches(
                train_items, cfg.batch_size, cfg.seed, epoch, self.rank, self.world
            ),
            lambda tm: self._val_accuracy(tm, val_items, mcfg, device),
            images=len(train_items),
        )

    @torch.no_grad()
    def _synthetic_val_accuracy(self, tm: TrainModule, mcfg, device) -> float:
        """Nearest-neighbour accuracy on fixed batches of unseen objects at full difficulty."""
        spec = dataclasses.replace(self.cfg.synthetic_spec(), ramp=0.0)
        ds = SyntheticBatches(spec, mcfg.mean, mcfg.std, self.cfg.seed + 7919, 1)
        was = tm.training
        tm.eval()
        accs = []
        for step in range(2):
            x, y, _ = ds[step]
            accs.append(float(retrieval_accuracy(tm.model(x.to(device)).descriptor, y.to(device))))
        tm.train(was)
        return float(np.mean(accs))

    @torch.no_grad()
    def _val_accuracy(self, tm: TrainModule, items, mcfg, device) -> float:
        """Classification accuracy of the ArcFace head on held-out images (no margin)."""
        if not items or tm.stage == 1:
            return math.nan
        was = tm.training
        tm.eval()
        ds = ImageBatches(items, self.cfg.image_size, mcfg.mean, mcfg.std, None, self.cfg.seed)
        correct = n = 0
        for i in range(len(items)):
            x, y, _ = ds[[i]]
            if x is None:
                continue
            pred = tm.arcface(tm.model(x.to(device)).descriptor).argmax(1).cpu()
            correct += int((pred == y).sum())
            n += len(y)
        tm.train(was)
        return correct / n if n else math.nan


def load_trained_model(out: str | os.PathLike):
    """The model a training run wrote."""
    return load_checkpoint(Path(out) / "model")
