"""Batches of labelled images: aspect-ratio buckets, augmentation, loading.

Batches group images of similar aspect ratio (the papers keep the original aspect instead of
square crops): each image falls in the bucket of the nearest ratio in ``ASPECT_BUCKETS`` and is
resized (and augmented) to that bucket's size.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import BadImageError
from engine.photo.decode import load_photo
from engine.training.data import Item

#: width / height ratios batches are grouped by
ASPECT_BUCKETS = (9 / 16, 3 / 4, 1.0, 4 / 3, 16 / 9)


def bucket_of(aspect: float) -> int:
    return int(np.argmin([abs(np.log(aspect / b)) for b in ASPECT_BUCKETS]))


def bucket_size(bucket: int, image_size: int) -> tuple[int, int]:
    """``(height, width)`` of a bucket: long side ``image_size``, multiples of 16."""
    r = ASPECT_BUCKETS[bucket]
    if r >= 1:
        w, h = image_size, image_size / r
    else:
        w, h = image_size * r, image_size
    return max(16, round(h / 16) * 16), max(16, round(w / 16) * 16)


def epoch_batches(
    items: list[Item], batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1
) -> list[list[int]]:
    """Deterministic batches of item indices for one epoch, each from a single aspect bucket.

    Incomplete batches are dropped (batch norm needs more than one sample); with several
    processes each rank takes every ``world``-th batch and all ranks get the same count.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    by_bucket: dict[int, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by_bucket[bucket_of(it.aspect)].append(i)
    batches = []
    for b in sorted(by_bucket):
        idx = by_bucket[b]
        rng.shuffle(idx)
        batches += [
            idx[s : s + batch_size] for s in range(0, len(idx) - batch_size + 1, batch_size)
        ]
    rng.shuffle(batches)
    per_rank = len(batches) // world
    return batches[rank::world][:per_rank]


@dataclass
class Augment:
    random_resized_crop: bool = True
    crop_scale: tuple[float, float] = (0.5, 1.0)
    hflip: bool = True
    color_jitter: float = 0.3


class ImageBatches(torch.utils.data.Dataset):
    """Index = a list of item indices (one batch); returns ``(x (B, 3, H, W), y (B,), bad)``.

    Unreadable images are dropped from their batch and counted in ``bad``.
    """

    def __init__(
        self, items: list[Item], image_size: int, mean, std, augment: Augment | None, seed: int = 0
    ) -> None:
        self.items = items
        self.image_size = image_size
        self.mean = torch.tensor(mean).view(3, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1)
        self.augment = augment
        self.seed = seed

    def __len__(self) -> int:  # batches are given explicitly
        return 0

    def load(self, i: int, size: tuple[int, int], rng: random.Random) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as TF

        it = self.items[i]
        img = load_photo(it.path, max_side=int(self.image_size * 1.25)).image
        x = TF.pil_to_tensor(img)  # (3, h, w) uint8
        a = self.augment
        if a is not None and a.random_resized_crop:
            h, w = x.shape[-2:]
            s = rng.uniform(*a.crop_scale)
            target_r = size[1] / size[0]
            cw = min(w, round((s * w * h * target_r) ** 0.5))
            ch = min(h, round(cw / target_r))
            top, left = rng.randint(0, h - ch), rng.randint(0, w - cw)
            x = TF.resized_crop(x, top, left, ch, cw, list(size), antialias=True)
        else:
            x = TF.resize(x, list(size), antialias=True)
        if a is not None and a.hflip and rng.random() < 0.5:
            x = TF.horizontal_flip(x)
        x = x.float() / 255.0
        if a is not None and a.color_jitter:
            j = a.color_jitter
            x = TF.adjust_brightness(x, rng.uniform(1 - j, 1 + j))
            x = TF.adjust_contrast(x, rng.uniform(1 - j, 1 + j))
            x = TF.adjust_saturation(x, rng.uniform(1 - j, 1 + j))
            x = TF.adjust_hue(x, rng.uniform(-j / 6, j / 6))
        return (x - self.mean) / self.std

    def __getitem__(self, batch: list[int]):
        size = bucket_size(bucket_of(self.items[batch[0]].aspect), self.image_size)
        rng = random.Random(hash((self.seed, tuple(batch))) & 0x7FFFFFFF)
        xs, ys, bad = [], [], 0
        for i in batch:
            try:
                xs.append(self.load(i, size, rng))
                ys.append(self.items[i].label)
            except BadImageError:
                bad += 1
        if not xs:
            return None, None, bad
        return torch.stack(xs), torch.tensor(ys), bad


def batch_loader(
    ds: ImageBatches, batches: list[list[int]], workers: int
) -> Iterator[tuple[torch.Tensor | None, torch.Tensor | None, int]]:
    """Load batches in order (with ``workers`` processes when > 0)."""
    if workers <= 0:
        for b in batches:
            yield ds[b]
        return
    loader = torch.utils.data.DataLoader(
        batches,
        batch_size=None,
        num_workers=workers,
        collate_fn=ds.__getitem__,
        persistent_workers=False,
        prefetch_factor=2,
    )
    yield from loader
