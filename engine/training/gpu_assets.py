"""The CPU half of :mod:`engine.training.gpu_views`: what a loader worker makes for a batch
of views made on the device — each identity's object sprite, a few clutter backgrounds from a
cached pool, every random number (the curriculum of
:func:`~engine.training.generated.render_views`) and the geometry worked out from them.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from engine.training.generator import render_clutter, render_object
from engine.training.gpu_views import CHANNEL_ORDERS, ViewAssets, pixel_maps, sample_grid

#: side of the object sprites (what :func:`~engine.training.generator.render_scene` draws too)
SPRITE_SIZE = 256
#: background pool: slots, and how many steps a slot keeps its background
BACKGROUND_SLOTS = 256
BACKGROUND_PERIOD = 256
#: backgrounds are drawn at this multiple of the view size (capped), then cropped — twice,
#: like the CPU renderer's scenes, so lines and noise are as fine
_BG_SCALE = 2.0
_BG_MAX_SIDE = 640
#: the mild photometric jitter on top of the object's colour cast (uniform ranges)
PHOTOMETRIC = {
    "brightness": (-0.05, 0.05),
    "contrast": (0.85, 1.15),
    "saturation": (0.8, 1.2),
    "noise": (0.0, 0.015),
}


def background_size(size: tuple[int, int]) -> tuple[int, int]:
    """(Wb, Hb) of the pool's backgrounds for views of ``size`` (W, H)."""
    w, h = size
    k = min(_BG_SCALE, _BG_MAX_SIDE / max(w, h))
    return max(16, round(w * k)), max(16, round(h * k))


@functools.lru_cache(maxsize=BACKGROUND_SLOTS + 64)
def _clutter(seed: int, slot: int, generation: int, w: int, h: int) -> np.ndarray:
    """(h, w, 3) uint8; cached per process (each loader worker keeps its own)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, slot, generation, 0xB6C]))
    return np.asarray(render_clutter(rng, w, h), np.uint8)


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def _homographies(jitter: torch.Tensor) -> torch.Tensor:
    """(B, 4, 2) corner displacements → (B, 3, 3) maps from the displaced corners to the unit
    square's (what :func:`engine.training.generator._perspective` hands PIL)."""
    src = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    dst = src + jitter.to(torch.float64)
    B = len(jitter)
    A = torch.zeros(B, 8, 8, dtype=torch.float64)
    xd, yd = dst[..., 0], dst[..., 1]
    xs, ys = src[:, 0].expand(B, 4), src[:, 1].expand(B, 4)
    A[:, 0::2, 0], A[:, 0::2, 1], A[:, 0::2, 2] = xd, yd, 1.0
    A[:, 0::2, 6], A[:, 0::2, 7] = -xs * xd, -xs * yd
    A[:, 1::2, 3], A[:, 1::2, 4], A[:, 1::2, 5] = xd, yd, 1.0
    A[:, 1::2, 6], A[:, 1::2, 7] = -ys * xd, -ys * yd
    rhs = torch.stack([xs, ys], -1).reshape(B, 8)
    h = torch.linalg.solve(A, rhs)
    return torch.cat([h, torch.ones(B, 1, dtype=torch.float64)], 1).view(B, 3, 3).float()


def _object_boxes(
    alpha: torch.Tensor,
    pid: torch.Tensor,
    angle: torch.Tensor,
    extent: torch.Tensor,
    homography: torch.Tensor,
) -> torch.Tensor:
    """(B, 4) the silhouette's box on the turned canvas (x0, y0, x1, y1 in its units),
    sampled on an ``n × n`` grid from ``alpha (P, 1, n, n)``: what centres a close-up and
    places an occluder."""
    n, B = alpha.shape[-1], len(pid)
    t = torch.arange(n, dtype=torch.float32) + 0.5
    k = n / extent  # grid cells per sprite unit
    A, M = pixel_maps(torch.zeros(B, 2), k, angle, extent, homography)
    grid = sample_grid(A, M, t, t)
    inside = F.grid_sample(alpha[pid], grid, align_corners=False)[:, 0] > 0.5  # (B, n, n)
    cols, rows = inside.any(1), inside.any(2)  # (B, n)
    big = torch.full((B, n), float(n))
    x0 = torch.where(cols, t, big).amin(1) - 0.5
    y0 = torch.where(rows, t, big).amin(1) - 0.5
    x1 = torch.where(cols, t, -big).amax(1) + 0.5
    y1 = torch.where(rows, t, -big).amax(1) + 0.5
    box = torch.stack([x0, y0, x1, y1], 1) / k[:, None]
    whole = torch.stack([torch.zeros_like(extent), torch.zeros_like(extent), extent, extent], 1)
    return torch.where(cols.any(1, keepdim=True), box, whole)


def make_assets(
    identities: list[int],
    views: int,
    difficulty: float,
    size: tuple[int, int],
    gen: torch.Generator,
    seed: int = 0,
    step: int = 0,
) -> ViewAssets:
    """The CPU half: sprites, backgrounds, every random number and the geometry of a batch.

    ``gen`` (a CPU generator) draws the random numbers; ``(seed, step)`` pick the pool's
    backgrounds. Same arguments (and generator state), same assets.
    """
    P, K = len(identities), views
    B = P * K
    W, H = size
    d = float(np.clip(difficulty, 0.0, 1.0))

    def u(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=gen)

    # the curriculum of render_views: a close-up, then hard (p = 0.4·d) or easier views
    closeup = torch.arange(B) % K == 0
    hard = (u(B) < 0.4 * d) & ~closeup

    def per_view(close: float, hard_: float, easy: float) -> torch.Tensor:
        return torch.where(closeup, close, torch.where(hard, hard_, easy))

    lo = per_view(0.45, 0.2, _lerp(0.75, 0.35, d))
    hi = per_view(0.75, 0.4, _lerp(1.0, 0.75, d))
    max_rot = per_view(15.0, 60.0, _lerp(10.0, 25.0, d))
    persp = per_view(0.05, 0.2, _lerp(0.03, 0.08, d))
    occlusion = per_view(0.0, 1.0, 0.3 * d)
    scale = lo + (hi - lo) * u(B)  # the turned canvas's side / the view's height
    angle = torch.deg2rad((2 * u(B) - 1) * max_rot)
    homography = _homographies((2 * u(B, 4, 2) - 1) * persp[:, None, None])
    position = u(B, 2)
    crop = 0.55 + 0.15 * u(B)  # close-ups: half the window, in object boxes
    gain = 0.75 + 0.5 * u(B, 3)
    bias = torch.randn((B, 3), generator=gen) * (12 / 255)
    occluder = u(B) < occlusion
    occluder_xy = 0.7 * u(B, 2)
    occluder_rgb = u(B, 3)
    blur = torch.where(u(B) < 0.5, 0.3 + 0.9 * u(B), 0.0)
    # P backgrounds a batch, each view one of them at random: sharing one is as likely
    # between views of one identity as of two, so it tells nothing
    used = torch.randperm(BACKGROUND_SLOTS, generator=gen)[: max(2, P)]
    bg_index = torch.randint(0, len(used), (B,), generator=gen)
    bg_crop = torch.cat([0.6 + 0.4 * u(B, 1), u(B, 2)], 1)
    bg_flip = u(B, 2) < 0.5
    bg_perm = torch.randint(0, len(CHANNEL_ORDERS), (B,), generator=gen)
    lows = torch.tensor([r[0] for r in PHOTOMETRIC.values()])
    highs = torch.tensor([r[1] for r in PHOTOMETRIC.values()])
    photometric = lows + (highs - lows) * u(B, len(PHOTOMETRIC))
    noise_seed = int(torch.randint(0, 2**62, (1,), generator=gen))

    # assets: the sprites, and the backgrounds of the slots in use (slot j holds the
    # background of generation (step + j·period/slots) // period)
    sprites = torch.from_numpy(
        np.stack([np.asarray(render_object(int(i), SPRITE_SIZE), np.uint8) for i in identities])
    ).permute(0, 3, 1, 2)
    wb, hb = background_size(size)
    bgs = [
        _clutter(
            seed, j, (step + j * BACKGROUND_PERIOD // BACKGROUND_SLOTS) // BACKGROUND_PERIOD, wb, hb
        )
        for j in used.tolist()
    ]
    backgrounds = torch.from_numpy(np.stack(bgs)).permute(0, 3, 1, 2)

    # geometry: where the turned canvas goes, from the silhouette's box on it
    pid = torch.arange(B) // K
    extent = angle.cos().abs() + angle.sin().abs()
    small = F.avg_pool2d(sprites[:, 3:].float() / 255, SPRITE_SIZE // 64)  # (P, 1, 64, 64)
    cbox = _object_boxes(small, pid, angle, extent, homography)
    bw, bh = cbox[:, 2] - cbox[:, 0], cbox[:, 3] - cbox[:, 1]
    # a close-up: the box centred in a window 2·crop times its larger side (at 4:3)
    k_close = W / (2 * crop * torch.maximum(bw, bh * W / H))
    k = torch.where(closeup, k_close, scale * H / extent)
    side = k * extent
    free = torch.stack([W - side, H - side], 1).clamp_min(0)
    centred = torch.stack(
        [W / 2 - (cbox[:, 0] + cbox[:, 2]) / 2 * k, H / 2 - (cbox[:, 1] + cbox[:, 3]) / 2 * k], 1
    )
    origin = torch.where(closeup[:, None], centred, position * free)
    box = cbox * k[:, None] + origin.repeat(1, 2)
    obw, obh = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
    o0 = box[:, :2] + occluder_xy * torch.stack([obw, obh], 1)
    o1 = o0 + 0.3 * torch.stack([obw, obh], 1)
    occluder_box = torch.where(
        occluder[:, None], torch.cat([o0, o1], 1), torch.tensor([0.0, 0, -1, -1])
    )
    # sprite texels per view pixel, as a mip level (make_views subtracts its supersampling)
    level = (SPRITE_SIZE / k).clamp_min(1).log2().floor().long()
    return ViewAssets(
        sprites=sprites.contiguous(),
        backgrounds=backgrounds.contiguous(),
        bg_index=bg_index,
        closeup=closeup,
        hard=hard,
        angle=angle,
        extent=extent,
        homography=homography,
        origin=origin,
        pixel_scale=k,
        level=level,
        box=box,
        occluder_box=occluder_box,
        occluder_rgb=occluder_rgb,
        gain=gain,
        bias=bias,
        blur=blur,
        bg_crop=bg_crop,
        bg_flip=bg_flip,
        bg_perm=bg_perm,
        photometric=photometric,
        noise_seed=noise_seed,
        size=(int(W), int(H)),
    )
