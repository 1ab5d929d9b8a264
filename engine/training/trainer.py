"""Training (plain Python, no Qt): SGD with momentum, warm-up then cosine; AMP on CUDA;
gradient clipping; a resumable state every epoch (and every few minutes); the CiDeR-FT
two-stage schedule; several processes through ``torchrun`` (PyTorch DDP, NCCL on GPUs, gloo
on CPUs). What is optimised is :class:`~engine.training.objective.TrainModule`.

Like every long engine call, ``run`` reports ``progress(done, total, message)`` (optimizer
steps of the whole run) and checks ``should_stop()`` between steps. The metrics come as
records through ``on_record(record: dict)``: ``{"kind": "step", "epoch", "step", "steps",
"loss", "accuracy", "lr", "images_per_s", "eta_s", "stage"}`` after every step and
``{"kind": "epoch", "epoch", "stage", "loss", "accuracy", "val_accuracy", "unreadable",
"seconds"}`` after every epoch (the GUI wizard draws its curves from them).

Data: a labelled set (folders, GLDv2, ArcFace), generated identities or pairs mined from a
library (each configured by its part of :class:`~engine.training.config.TrainConfig`).

Output directory: ``out/model/`` the latest checkpoint (model.safetensors + config.json, and
model.onnx once training ends); ``out/state.safetensors`` the training state (weights, heads,
optimizer, random generator) with ``out/state.json`` (epoch, step, the losses of the epoch so
far, history and the training config), written together at one step boundary, so a resumed
run continues exactly where the saved one stopped.

A loss that is not finite (NaN or infinite: too high a learning rate, a bad batch) stops
training at once: nothing of that step is saved, the last good checkpoint (the saved state
and ``out/model``, both written only from finite weights) stays the run's result, and
``TrainResult.diverged`` says so in one sentence.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from engine.errors import CancelledError, VisualSearchError
from engine.network.checkpoint import (
    copy_matching_weights,
    load_checkpoint,
    write_onnx,
)
from engine.network.config import ModelConfig
from engine.network.models import create_model
from engine.network.runtime import resolve_device
from engine.tasks import ProgressFn, Rate, StopFn, format_seconds
from engine.training.batches import ImageBatches, batch_loader, epoch_batches
from engine.training.config import TrainConfig
from engine.training.data import LabelledSet
from engine.training.generated import GeneratedBatches, GeneratedData
from engine.training.losses import retrieval_accuracy
from engine.training.mined import MinedData, mined_feed
from engine.training.objective import TrainModule
from engine.training.state import Diverged, RunState

RecordFn = Callable[[dict], None]


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warm-up to ``base`` over ``warmup`` steps, then cosine to zero."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


@dataclass
class TrainResult:
    out: Path
    epochs_done: int
    history: list[dict]
    cancelled: bool
    #: why training stopped early with a loss that was not finite (the last good checkpoint
    #: was kept), or None
    diverged: str | None = None


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


def _to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device):
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


@dataclass
class _Feed:
    ds: ImageBatches | GeneratedBatches  # ds[batch] → (x, y, unreadable)
    batches: Callable[[int], list]  # epoch → this process's batches, in order
    val_accuracy: Callable[[TrainModule], float]
    images: int
    #: (x, y, device) → (x, y) on the device (generated batches may make their views there)
    to_device: Callable = _to_device


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        data: LabelledSet | GeneratedData | MinedData,
        out: str | os.PathLike,
    ) -> None:
        self.generated = isinstance(data, GeneratedData)
        self.mined = isinstance(data, MinedData)
        cfg.check(generated=self.generated)
        self.cfg = cfg.resolved()
        self.data = data
        self.out = Path(out)
        self.rank, self.world, self.local_rank = _dist_info()
        self.is_main = self.rank == 0
        self.state = RunState(self.out, self.cfg, data.classes)

    # ----------------------------------------------------------------- state

    def _save_state(self, tm, opt, epoch, step, history, save_model, partial=None) -> None:
        if self.is_main:  # every process holds the same weights; one writes them
            self.state.save(tm, opt, epoch, step, history, save_model, partial)

    # ----------------------------------------------------------------- run

    def run(
        self,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
        resume: bool = False,
        *,
        on_record: RecordFn | None = None,
    ) -> TrainResult:
        """Train (or, with ``resume``, continue the run saved in ``out``)."""
        cfg = self.cfg
        progress = progress or (lambda done, total, message: None)
        should_stop = should_stop or (lambda: False)
        on_record = on_record or (lambda record: None)
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
        if cfg.init_from and not resume:
            copy_matching_weights(model, cfg.init_from)
        classes = None if self.generated else len(self.data.classes)
        tm = TrainModule(model, cfg, classes, mined=self.mined).to(device)
        params = [p for p in tm.parameters()]
        if cfg.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.SGD(
                params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
        start_epoch, start_step, history = 0, 0, []
        partial = {"losses": [], "accs": [], "bad": 0}
        if resume:
            start_epoch, start_step, history, partial = self.state.load(tm, opt)
        ddp = torch.nn.parallel.DistributedDataParallel(tm) if self.world > 1 else None
        net = ddp if ddp is not None else tm

        done_now = [0]  # optimizer steps of the run done, for phase messages
        run_total = [0]

        def note(message: str) -> None:
            """What the run is doing between steps (choosing negatives, measuring)."""
            progress(done_now[0], run_total[0], message)

        self.note = note
        self.should_stop = should_stop  # read by measurements between steps (held-out photos)
        feed = self._feed(mcfg, device, tm)
        try:  # mined data chooses the epoch's hard negatives first: Cancel ends it, unsaved
            steps_per_epoch = len(feed.batches(start_epoch))
        except CancelledError:
            self._save_state(tm, opt, start_epoch, start_step, history, False, partial)
            return TrainResult(self.out, len(history), history, True, None)
        if steps_per_epoch == 0:
            raise VisualSearchError(
                f"not enough training images for one batch of {cfg.batch_size} per process "
                f"({feed.images} images); lower --batch-size"
            )
        total = run_total[0] = steps_per_epoch * cfg.epochs
        done_now[0] = start_epoch * steps_per_epoch + start_step
        warmup = round(cfg.warmup_epochs * steps_per_epoch)
        lab = cfg.labelled
        stage1 = (lab.ft_stage1_epochs or max(1, cfg.epochs // 2)) if lab.cider_ft else 0
        amp = cfg.amp and device.type == "cuda"
        t_start = time.perf_counter()
        images_seen = 0
        rate = Rate()  # this run's steps per second: the time left
        last_save = time.perf_counter()
        cancelled = False
        diverged: str | None = None
        rate.update(done_now[0])
        epoch = start_epoch
        try:
            for epoch in range(start_epoch, cfg.epochs):
                tm.set_stage(1 if epoch < stage1 else 2)
                tm.train()  # what stage 2 freezes stays in eval mode
                batches = feed.batches(epoch)
                first = start_step if epoch == start_epoch else 0
                if epoch == start_epoch:  # the steps before a cancel count in the epoch's mean
                    losses, accs, bad = (
                        list(partial["losses"]),
                        list(partial["accs"]),
                        partial["bad"],
                    )
                else:
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
                    x, y = feed.to_device(x, y, device)
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                        loss, acc = net(x, y)
                    if not bool(torch.isfinite(loss.detach())):
                        raise Diverged(f"the loss became {float(loss.detach())}", epoch, step)
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
                    done_now[0] = gstep + 1
                    rate.update(gstep + 1)
                    elapsed = time.perf_counter() - t_start
                    left = rate.seconds_left(total - gstep - 1)
                    rec = {
                        "kind": "step",
                        "epoch": epoch,
                        "step": step,
                        "steps": steps_per_epoch,
                        "loss": losses[-1],
                        "accuracy": accs[-1],
                        "lr": lr,
                        "images_per_s": images_seen / max(elapsed, 1e-9),
                        "steps_per_s": rate.per_second(),
                        "eta_s": left,
                        "stage": tm.stage,
                    }
                    on_record(rec)
                    progress(gstep + 1, total, step_message(rec, cfg.epochs))
                    sofar = {"losses": losses, "accs": accs, "bad": bad}
                    stop = should_stop()
                    if self.world > 1:  # every rank stops at the same step
                        flag = torch.tensor([1.0 if stop else 0.0], device=device)
                        dist.all_reduce(flag)
                        stop = bool(flag.item())
                    if stop:
                        self._save_state(tm, opt, epoch, step + 1, history, False, sofar)
                        cancelled = True
                        break
                    if time.perf_counter() - last_save > 60 * cfg.checkpoint_minutes:
                        self._save_state(tm, opt, epoch, step + 1, history, False, sofar)
                        last_save = time.perf_counter()
                if cancelled:
                    break
                if self.world > 1 and losses:  # report the mean over every process
                    t = torch.tensor([float(np.mean(losses)), float(np.mean(accs))], device=device)
                    dist.all_reduce(t)
                    losses, accs = [float(t[0]) / self.world], [float(t[1]) / self.world]
                note(f"epoch {epoch + 1}/{cfg.epochs}: measuring the model…")
                rec = {
                    "epoch": epoch,
                    "stage": tm.stage,
                    "loss": float(np.mean(losses)) if losses else math.nan,
                    "accuracy": float(np.mean(accs)) if accs else math.nan,
                    "val_accuracy": feed.val_accuracy(tm),
                    "unreadable": bad,
                    "seconds": round(time.perf_counter() - t_start, 1),
                }
                self._save_state(tm, opt, epoch + 1, 0, [*history, rec], save_model=True)
                history.append(rec)
                last_save = time.perf_counter()
                on_record({"kind": "epoch", **rec})
                if self.world == 1 and should_stop():  # asked while measuring: the epoch is saved
                    cancelled = True
                    break
        except CancelledError:  # in the next epoch's hard negatives: the last epoch is saved
            cancelled = True
        except Diverged as e:
            diverged = e.sentence(epoch, history, self.out, cfg.lr)
        if self.is_main and history and not cancelled:  # it runs without PyTorch too
            write_onnx(self.out / "model")
        if self.world > 1:
            dist.barrier()
        return TrainResult(self.out, len(history), history, cancelled, diverged)

    def _feed(self, mcfg, device, tm: TrainModule) -> _Feed:
        """Where batches come from: labelled images, the generator (a batch per step), or
        pairs mined from a library (hard negatives refreshed each epoch by ``tm``'s model)."""
        cfg = self.cfg
        if self.mined:
            return _Feed(*mined_feed(self, mcfg, device, tm))
        if self.generated:
            n = cfg.generated.steps_per_epoch
            total = n * cfg.epochs
            ds = GeneratedBatches(
                cfg.generated_spec(), mcfg.mean, mcfg.std, cfg.seed, total, self.rank, device=device
            )
            return _Feed(
                ds,
                lambda epoch: list(range(epoch * n, (epoch + 1) * n)),
                lambda tm: self._generated_val_accuracy(tm, mcfg, device),
                images=n * cfg.batch_size,
                to_device=ds.to_device,
            )
        lab = cfg.labelled
        train_items, val_items = self.data.split(lab.val_fraction, cfg.seed)
        ds = ImageBatches(train_items, cfg.image_size, mcfg.mean, mcfg.std, lab.augment, cfg.seed)
        return _Feed(
            ds,
            lambda epoch: epoch_batches(
                train_items, cfg.batch_size, cfg.seed, epoch, self.rank, self.world
            ),
            lambda tm: self._val_accuracy(tm, val_items, mcfg, device),
            images=len(train_items),
        )

    @torch.no_grad()
    def _generated_val_accuracy(self, tm: TrainModule, mcfg, device) -> float:
        """Nearest-neighbour accuracy on fixed batches of unseen objects at full difficulty."""
        # rendered by PIL wherever training views are made: the same yardstick for both
        spec = dataclasses.replace(self.cfg.generated_spec(), ramp=0.0, views_on="cpu")
        ds = GeneratedBatches(spec, mcfg.mean, mcfg.std, self.cfg.seed + 7919, 1)
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


def step_message(rec: dict, epochs: int) -> str:
    """One line for a step record (what ``progress`` says): the time left comes from this
    run's measured rate of steps (``measuring the rate`` during the first seconds)."""
    left = rec.get("eta_s")
    when = "measuring the rate" if left is None else f"{format_seconds(left)} left"
    return (
        f"epoch {rec['epoch'] + 1}/{epochs}, step {rec['step'] + 1}/{rec['steps']}: loss "
        f"{rec['loss']:.3f}, accuracy {rec['accuracy']:.2f}, lr {rec['lr']:.4g}, "
        f"{rec['images_per_s']:.1f} images/s, {when}"
    )


def load_trained_model(out: str | os.PathLike):
    """The model a training run wrote."""
    return load_checkpoint(Path(out) / "model")
