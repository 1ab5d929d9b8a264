"""Training defaults that suit the machine, and how long a run will take.

On a GPU the papers' settings are the defaults (the registry's training backbone and image
size, 10 epochs). On a CPU they would take days, so the defaults shrink to a ResNet-18 at
224 px and as many epochs (1 to 10) as fit in about a quarter of an hour.

The duration comes from a training throughput (images/s):

* on the CPU, from :data:`CPU_IMAGES_PER_S`, measured with ``bench_train(methods=("cider",),
  sizes=(224,), backbone=B, batch_size=8, steps=5, device="cpu")`` (what ``visual-search bench
  train --backbone B --sizes 224 --device cpu`` runs: the real ``Trainer.run`` on 640×480
  JPEGs, decoding included, median of 4 steps after a warm-up) on a 2-core AMD EPYC virtual
  machine with 2 torch threads, fp32. Other sizes scale by pixel count
  and other machines by their core count relative to those 2 cores — a rough figure, said so
  where it is shown;
* on a GPU, from :func:`measure_images_per_s`: one timed training step of the chosen model on
  that device (no table: no GPU figures were measured).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import torch

from engine.cores import available_cores
from engine.network.config import ModelConfig
from engine.network.models import create_model, get_entry
from engine.network.runtime import device_kind, resolve_device
from engine.training.config import TrainConfig
from engine.training.objective import TrainModule

#: training images/s at 224 px, batch 8 (see the module docstring for how they were measured)
CPU_IMAGES_PER_S = {"resnet18": 19.8, "resnet34": 8.65, "resnet50": 6.40, "resnet101": 4.08}
MEASURED_SIZE = 224
MEASURED_CORES = 2
#: what a CPU run's defaults aim to finish within
CPU_BUDGET_S = 15 * 60
#: validation (a tenth of the images, inference only) and loading, on top of the steps
OVERHEAD = 1.1


@dataclass(frozen=True)
class TrainPlan:
    """Proposed settings for a training run, and how long they should take."""

    device: str  # "cpu" or "cuda"
    method: str
    backbone: str
    image_size: int
    epochs: int
    batch_size: int
    images: int
    images_per_s: float | None  # None: not known yet (measure_images_per_s)
    cpu_count: int | None = None

    @property
    def seconds(self) -> float | None:
        if not self.images_per_s:
            return None
        return estimate_seconds(self.images, self.epochs, self.images_per_s)

    def revised(self, **changes) -> TrainPlan:
        """The plan with other settings (``backbone``, ``image_size``, ``epochs``, ``device``…)
        and its throughput rescaled to them (the CPU's by the table; a measured one by the
        table's ratios of backbone cost and pixel count)."""
        new = dataclasses.replace(self, **changes)
        if new.device == "cpu":
            rate = cpu_images_per_s(new.backbone, new.image_size, new.cpu_count)
        elif self.device == "cpu" or not self.images_per_s:
            rate = None
        else:
            ratio = cpu_images_per_s(new.backbone, new.image_size, 1) / cpu_images_per_s(
                self.backbone, self.image_size, 1
            )
            rate = self.images_per_s * ratio
        return dataclasses.replace(new, images_per_s=rate)

    @property
    def duration(self) -> str:
        return describe_duration(self.seconds)

    def notice(self) -> str:
        """One plain sentence about where training runs and how long it takes."""
        if self.device == "cpu":
            head = "No GPU found: training runs on the CPU; the defaults are small"
            if self.seconds is not None and self.seconds > CPU_BUDGET_S:
                return f"{head}, and with {self.images} photos it still takes {self.duration}."
            return f"{head} so it finishes in {self.duration}."
        if self.seconds is None:
            return "Training runs on the GPU; timing one training step to estimate how long…"
        return f"Training runs on the GPU; with these settings it takes {self.duration}."


def describe_duration(seconds: float | None) -> str:
    """``about 4 minutes``, ``about 2.5 hours``; ``an unknown time`` for None."""
    if seconds is None:
        return "an unknown time"
    minutes = seconds / 60
    if minutes < 1.5:
        return "about a minute"
    if minutes < 90:
        return f"about {round(minutes)} minutes"
    hours = minutes / 60
    if hours < 36:
        return f"about {hours:.1f} hours"
    return f"about {hours / 24:.1f} days"


def cpu_images_per_s(backbone: str, image_size: int, cpu_count: int | None = None) -> float:
    """Training throughput on the CPU from the measured table, scaled to ``image_size`` and
    ``cpu_count`` cores (this machine's when None)."""
    cores = cpu_count or available_cores()
    base = CPU_IMAGES_PER_S.get(backbone, min(CPU_IMAGES_PER_S.values()))
    return base * (MEASURED_SIZE / image_size) ** 2 * cores / MEASURED_CORES


def estimate_seconds(images: int, epochs: int, images_per_s: float) -> float:
    """Seconds to train ``epochs`` over ``images`` at ``images_per_s``, with validation."""
    return images * epochs / images_per_s * OVERHEAD


def fit_batch(batch_size: int, images: int, val_fraction: float = 0.1) -> int:
    """``batch_size``, lowered so that one batch fits in the training part of ``images``."""
    train = max(2, math.floor(images * (1 - val_fraction)))
    return max(2, min(batch_size, train))


def propose(
    method: str,
    images: int,
    device: str,
    cpu_count: int | None = None,
    images_per_s: float | None = None,
) -> TrainPlan:
    """Defaults for training ``method`` on ``images`` photos on ``device`` (``cpu``/``cuda``).

    ``images_per_s``: a measured throughput for the proposed settings (a GPU's, from
    :func:`measure_images_per_s`); on the CPU the measured table is used when it is None.
    """
    images = max(1, images)
    if device == "cpu":
        backbone, size = "resnet18", MEASURED_SIZE
        rate = images_per_s or cpu_images_per_s(backbone, size, cpu_count)
        per_epoch = estimate_seconds(images, 1, rate)
        epochs = int(max(1, min(10, CPU_BUDGET_S // max(per_epoch, 1e-9))))
        batch = fit_batch(16, images)
    else:
        entry = get_entry(method)
        backbone, size, epochs = entry.train_backbone, entry.train_image_size, 10
        batch = fit_batch(32, images)
        rate = images_per_s
    return TrainPlan(device, method, backbone, size, epochs, batch, images, rate, cpu_count)


def plan_for_this_machine(method: str, images: int) -> TrainPlan:
    """:func:`propose` for this machine's device and core count."""
    return propose(method, images, device_kind("auto"), available_cores())


def measure_images_per_s(
    method: str,
    backbone: str,
    image_size: int,
    batch_size: int,
    device: str = "auto",
    classes: int = 8,
) -> float:
    """Training images/s of one timed step (forward, backward, SGD update) of ``method`` on
    ``device``, after one untimed warm-up step; random pixels, no ImageNet weights. Loading
    photos is not included."""
    dev = resolve_device(device)
    cfg = TrainConfig(method=method, backbone=backbone, image_size=image_size).resolved()
    mcfg = ModelConfig(
        architecture=method, backbone=backbone, image_size=image_size, pretrained="none"
    ).resolved()
    tm = TrainModule(create_model(mcfg), cfg, classes).to(dev).train()
    opt = torch.optim.SGD(tm.parameters(), lr=1e-3, momentum=0.9)
    x = torch.rand(batch_size, 3, image_size, image_size, device=dev)
    y = torch.arange(batch_size, device=dev) % classes
    elapsed = 0.0
    for _ in range(2):  # a warm-up step, then the timed one
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            loss, _ = tm(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        elapsed = time.perf_counter() - t0
    return batch_size / elapsed
