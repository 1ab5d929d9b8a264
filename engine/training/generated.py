"""Unlimited training identities: batches rendered on the fly by the object generator
(:mod:`engine.training.generator`).

A fixed set of a few hundred classes teaches a network those classes, not general features
(ArcFace on 300 generated objects scored below the untrained network on unseen ones). Here
every batch draws ``identities`` new objects out of a million and renders ``views`` photos
of each — so the network never sees the same object twice and can only lower its loss by
learning what makes *an* object recognisable under pose, scale, colour, blur, clutter and
occlusion. The objective is instance discrimination across the batch
(:func:`~engine.training.losses.multi_positive_infonce`).

A curriculum controls how hard the views are: at difficulty 0 the object fills most of the
photo; at difficulty 1 views range from large to small, turned, foreshortened and occluded
objects, like the evaluation set's "hard" positives. ``difficulty_at`` ramps it linearly over
the first ``ramp`` fraction of training. A network trained from scratch on the hard views
alone does not get started (its loss stays at chance: random features see mostly clutter);
object-filled views first, then smaller ones, does.

One view of each identity is a close-up: a crop around the object, the way a user crops a
query to a box.

Batches are a pure function of ``(seed, step)``: a resumed run renders exactly the batches an
uninterrupted one would, and ``torchrun`` ranks render disjoint ones.

Where the views are made (``GeneratedSpec.views_on``): ``cpu`` renders each with PIL
(:func:`render_views`) in the loader; ``device`` has the loader render only each identity's
object and a few backgrounds, and :mod:`~engine.training.gpu_views` makes the views from them
on the training device in one batched pass (a GPU keeps up with its training step that way);
``auto`` is ``device`` on CUDA and ``cpu`` elsewhere. Both draw the same identities for a
step, with the same curriculum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from engine.training.generator import EVAL_IDENTITY_OFFSET, render_scene
from engine.training.gpu_assets import make_assets
from engine.training.gpu_views import ViewAssets, make_views

#: rendering happens at twice the training size, then one antialiased downscale
_SUPERSAMPLE = 2


@dataclass(frozen=True)
class GeneratedSpec:
    identities: int = 16  # objects per batch
    views: int = 4  # photos of each object per batch (≥ 2)
    image_size: int = 160  # long side of the training photos (aspect 4:3)
    ramp: float = 0.5  # fraction of training over which difficulty goes from 0 to 1
    max_difficulty: float = 1.0
    views_on: str = "auto"  # auto | cpu (PIL, per view) | device (batched, gpu_views)


VIEWS_ON = ("auto", "cpu", "device")


def resolve_views_on(views_on: str, device: torch.device | str | None) -> str:
    """``cpu`` or ``device``: where the views of a run on ``device`` are made."""
    if views_on not in VIEWS_ON:
        raise ValueError(f"views_on must be one of {', '.join(VIEWS_ON)}, not {views_on!r}")
    if views_on != "auto":
        return views_on
    return "device" if device is not None and torch.device(device).type == "cuda" else "cpu"


def difficulty_at(step: int, total: int, ramp: float, max_difficulty: float = 1.0) -> float:
    if ramp <= 0:
        return max_difficulty
    return max_difficulty * min(1.0, step / max(1.0, ramp * total))


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def render_views(
    identity: int, views: int, difficulty: float, rng: np.random.Generator, size: tuple[int, int]
) -> list[Image.Image]:
    """``views`` RGB photos of ``identity`` at ``size`` (W, H); the first is a close-up crop."""
    w, h = size
    big = (w * _SUPERSAMPLE, h * _SUPERSAMPLE)
    out = []
    # the close-up: the object large and upright, cropped to a 4:3 window around its box
    scene, pl = render_scene(
        [identity],
        seed=int(rng.integers(0, 2**31)),
        size=big,
        scale=(0.45, 0.75),
        max_rotation=15,
        perspective=0.05,
        occlusion=0.0,
    )
    x0, y0, x1, y1 = pl[0].box if pl else (0, 0, *big)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w = max(x1 - x0, (y1 - y0) * w / h) * rng.uniform(0.55, 0.7)
    half_h = half_w * h / w
    out.append(
        scene.crop((int(cx - half_w), int(cy - half_h), int(cx + half_w), int(cy + half_h))).resize(
            size, Image.Resampling.BILINEAR
        )
    )
    d = float(np.clip(difficulty, 0.0, 1.0))
    for _ in range(views - 1):
        hard = rng.uniform() < 0.4 * d
        if hard:
            kw = dict(scale=(0.2, 0.4), max_rotation=60.0, perspective=0.2, occlusion=1.0)
        else:
            kw = dict(
                scale=(_lerp(0.75, 0.35, d), _lerp(1.0, 0.75, d)),
                max_rotation=_lerp(10.0, 25.0, d),
                perspective=_lerp(0.03, 0.08, d),
                occlusion=0.3 * d,
            )
        scene, _ = render_scene([identity], seed=int(rng.integers(0, 2**31)), size=big, **kw)
        out.append(scene.resize(size, Image.Resampling.BILINEAR))
    return out


class GeneratedBatches:
    """``batches[step]`` → ``(x (P·K, 3, H, W), y (P·K,), 0)``; labels 0..P-1 within a batch.

    Used like ``ImageBatches``: the trainer asks for a list of global step numbers and a
    loader (possibly with worker processes) calls ``__getitem__`` on each, then
    :meth:`to_device` on what it returns. With views made on the device (``device``, or
    ``auto`` on CUDA), ``x`` is a :class:`~engine.training.gpu_views.ViewAssets` until then.
    """

    def __init__(
        self,
        spec: GeneratedSpec,
        mean,
        std,
        seed: int,
        total_steps: int,
        rank: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        if spec.views < 2 or spec.identities < 2:
            raise ValueError("generated batches need at least 2 identities and 2 views each")
        self.spec = spec
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)
        self.seed = seed
        self.total = total_steps
        self.rank = rank
        self.views_on = resolve_views_on(spec.views_on, device)

    def size(self) -> tuple[int, int]:
        w = max(32, round(self.spec.image_size / 16) * 16)
        h = max(32, round(self.spec.image_size * 3 / 4 / 16) * 16)
        return w, h

    def __getitem__(self, step: int):
        spec = self.spec
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, step, self.rank, 0x5A]))
        d = difficulty_at(step, self.total, spec.ramp, spec.max_difficulty)
        # training identities never reach the evaluation range of the generator
        ids = rng.choice(EVAL_IDENTITY_OFFSET, size=spec.identities, replace=False)
        if self.views_on == "device":
            gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
            assets = make_assets(
                [int(i) for i in ids], spec.views, d, self.size(), gen, self.seed, step
            )
            return assets, torch.arange(spec.identities).repeat_interleave(spec.views), 0
        imgs, labels = [], []
        for label, ident in enumerate(ids):
            for img in render_views(int(ident), spec.views, d, rng, self.size()):
                imgs.append(np.asarray(img, np.uint8))
                labels.append(label)
        x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div_(255.0)
        return (x - self.mean) / self.std, torch.tensor(labels), 0

    def to_device(
        self, x: torch.Tensor | ViewAssets, y: torch.Tensor, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch from ``__getitem__`` → normalised ``(x (B, 3, H, W), y (B,))`` on ``device``
        (with views made on the device, this is where they are made)."""
        y = y.to(device, non_blocking=True)
        if not isinstance(x, ViewAssets):
            return x.to(device, non_blocking=True), y
        # every copy to the device before the views' work is queued (on CUDA a copy from
        # pageable memory waits for the queue)
        mean, std = self.mean.to(device), self.std.to(device)
        views = make_views(x.to(device, non_blocking=True))
        return (views - mean) / std, y


class GeneratedReport:
    def lines(self) -> list[str]:
        return ["generated on the fly: new objects in every batch (no fixed classes)"]


class GeneratedData:
    """The generator as a training set for :class:`~engine.training.trainer.Trainer`."""

    source = "synthetic"

    def __init__(self) -> None:
        self.classes: list[str] = []  # instance discrimination: no class heads
        self.report = GeneratedReport()
