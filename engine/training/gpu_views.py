"""Generated training views made on the training device, in one batched pass.

:func:`~engine.training.generated.render_views` renders every view with PIL: a scene, an
object warped, pasted and blurred, at twice the size, then resized — on a GPU box the loader
workers cannot keep up with the training step. Here the CPU renders only what is slow to
draw and the same for every view:

* the object of each identity, once per batch (:func:`~engine.training.generator.render_object`: an
  RGBA sprite, alpha = its silhouette);
* ``P`` clutter backgrounds a batch (:func:`~engine.training.generator.render_clutter`, at twice the
  view size like the CPU renderer's scenes) from a pool of slots, each renewed every so many
  steps (one slot a step, staggered) and cached by each process: once warm, most are not
  drawn again. Every view takes one of them at random, cropped, flipped and with its colour
  channels reordered.

A loader worker returns those as uint8 tensors with every random number of the batch and
the geometry worked out from them (:class:`ViewAssets`, a few MB; made by
:func:`~engine.training.gpu_assets.make_assets`); :func:`make_views` then makes the ``P·K``
views on the device: the sprite foreshortened (a homography), turned and scaled
(``grid_sample`` from the mip level nearest the view's scale), alpha-composited onto a
background crop, the object's colour cast, an occluder patch, blur, and mild brightness,
contrast, saturation and noise — drawn at ``supersample`` times the size and averaged down,
like the CPU renderer's 2× render and resize.

The curriculum is :func:`~engine.training.generated.render_views`' own: the first view of
each identity a close-up (the object's box centred, filling 1/1.4–1/1.1 of the width), the
others at difficulty ``d`` either "hard" (probability 0.4·d: small, turned up to 60°,
foreshortened, occluded) or scaled from object-filled (d = 0) to mid-sized (d = 1).

The random numbers come from a CPU ``torch.Generator`` seeded by the caller (from
``(seed, step, rank)``), so a batch is a pure function of them; the device only applies them
(results agree across devices up to float rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

#: the six orders of the three colour channels (a background's hue-ish change)
CHANNEL_ORDERS = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])


@dataclass
class ViewAssets:
    """One batch's ingredients: ``P`` identities × ``K`` views, ``B = P·K`` (view ``p·K + k``
    is view ``k`` of identity ``p``; ``k = 0`` the close-up).

    Geometry: a view pixel ``x`` (pixel centres, view pixels) sits at ``r = (x - origin) /
    pixel_scale`` on the turned canvas (side ``extent``: the sprite's unit square turned by
    ``angle`` and expanded to hold it), which ``angle`` and ``homography`` map onto the sprite.
    """

    sprites: torch.Tensor  # (P, 4, S, S) uint8 RGBA
    backgrounds: torch.Tensor  # (U, 3, Hb, Wb) uint8
    bg_index: torch.Tensor  # (B,) long: which background
    closeup: torch.Tensor  # (B,) bool
    hard: torch.Tensor  # (B,) bool
    angle: torch.Tensor  # (B,) radians
    extent: torch.Tensor  # (B,) |cos| + |sin|
    homography: torch.Tensor  # (B, 3, 3) foreshortened canvas → sprite (unit squares)
    origin: torch.Tensor  # (B, 2) view pixels
    pixel_scale: torch.Tensor  # (B,) view pixels per sprite unit
    level: torch.Tensor  # (B,) long, stays on the CPU: floor(log2(sprite texels / view pixel))
    box: torch.Tensor  # (B, 4) the object's box in view pixels (x0, y0, x1, y1)
    occluder_box: torch.Tensor  # (B, 4) view pixels; empty (x1 < x0) for none
    occluder_rgb: torch.Tensor  # (B, 3)
    gain: torch.Tensor  # (B, 3) the object's colour cast
    bias: torch.Tensor  # (B, 3)
    blur: torch.Tensor  # (B,) Gaussian sigma at 2× the view size; 0: none
    bg_crop: torch.Tensor  # (B, 3) area fraction, x, y in [0, 1)
    bg_flip: torch.Tensor  # (B, 2) bool: horizontal, vertical
    bg_perm: torch.Tensor  # (B,) long: index into the channel orders
    photometric: torch.Tensor  # (B, 4) brightness, contrast, saturation, noise sigma
    noise_seed: int
    size: tuple[int, int]  # (W, H) of the views

    def __len__(self) -> int:
        return len(self.bg_index)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ViewAssets:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if torch.is_tensor(v) and f.name != "level":
                v = v.to(device, non_blocking=non_blocking)
            out[f.name] = v
        return ViewAssets(**out)


# ------------------------------------------------------------------------- geometry


def pixel_maps(
    origin: torch.Tensor,
    k: torch.Tensor,
    angle: torch.Tensor,
    extent: torch.Tensor,
    homography: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per view, where a pixel ``x`` lands: ``A (B, 2, 3)`` onto the foreshortened sprite's
    canvas (``q = A·[x, 1]``: ``r = (x - origin) / k`` on the turned canvas, turned back by
    ``angle`` about its centre) and ``M (B, 3, 3)`` all the way onto the sprite
    (``homography · A``, homogeneous)."""
    c, s = torch.cos(angle), torch.sin(angle)
    R = torch.stack([torch.stack([c, s], 1), torch.stack([-s, c], 1)], 1) / k[:, None, None]
    shift = -(R @ origin[:, :, None])[..., 0] - (extent / 2 * k)[:, None] * R.sum(2) + 0.5
    A = torch.cat([R, shift[:, :, None]], 2)
    A3 = F.pad(A, (0, 0, 0, 1))  # (B, 3, 3), last row (0, 0, 1): no host → device copy
    A3[:, 2, 2] = 1.0
    return A, homography @ A3


def sample_grid(
    A: torch.Tensor, M: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor
) -> torch.Tensor:
    """grid_sample's grid ``(B, len(ys), len(xs), 2)`` for the pixel centres ``xs × ys``;
    points off the foreshortened canvas (PIL's perspective transform keeps its square) get
    a place outside the sprite, so they sample nothing."""

    def plane(m: torch.Tensor) -> torch.Tensor:  # m (B, 3) → m0·x + m1·y + m2, (B, H, W)
        return (m[:, 0, None, None] * xs[None, None, :]) + (
            m[:, 1, None, None] * ys[None, :, None] + m[:, 2, None, None]
        )

    qx, qy = plane(A[:, 0]), plane(A[:, 1])
    den = plane(M[:, 2])
    valid = (qx >= 0) & (qx <= 1) & (qy >= 0) & (qy <= 1) & (den > 1e-6)
    den = torch.where(valid, den, 1.0)
    grid = torch.stack([plane(M[:, 0]) / den, plane(M[:, 1]) / den], -1).mul_(2).sub_(1)
    return grid.masked_fill_(~valid[..., None], -3.0)


# ------------------------------------------------------------------------- device: views

#: the smallest mip level of a sprite
_SMALLEST_LEVEL = 16
#: the largest blur sigma (at 2× the view size) a view draws
_MAX_BLUR = 1.2


def _levels(side: int) -> int:
    """How many mip levels a sprite of ``side`` has."""
    return 1 + max(0, int(math.log2(side // _SMALLEST_LEVEL)))


def _pyramid(sprites: torch.Tensor) -> list[torch.Tensor]:
    """(P, 4, S, S) float → mip levels S, S/2, … (2×2 means: an antialiased downscale)."""
    levels = [sprites]
    for _ in range(_levels(sprites.shape[-1]) - 1):
        levels.append(F.avg_pool2d(levels[-1], 2))
    return levels


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Per-image Gaussian blur: ``x (B, C, H, W)``, ``sigma (B,)`` in pixels (0: none)."""
    B, C, H, W = x.shape
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    s = sigma.to(x.dtype).clamp_min(1e-3)[:, None]
    k = torch.exp(-(t[None] ** 2) / (2 * s**2))
    k = torch.where(sigma[:, None] > 0, k, (t == 0).to(x.dtype).expand(B, -1))
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(C, 0)  # (B·C, 2·radius + 1)
    y = F.pad(x.reshape(1, B * C, H, W), (radius, radius, radius, radius), mode="replicate")
    y = F.conv2d(y, k[:, None, None, :], groups=B * C)
    y = F.conv2d(y, k[:, None, :, None], groups=B * C)
    return y.view(B, C, H, W)


def make_views(
    assets: ViewAssets, supersample: int = 2, with_alpha: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The device half: ``assets`` (on the device where the views are wanted) → the views
    ``(B, 3, H, W)`` float in [0, 1] (and with ``with_alpha`` the object's coverage
    ``(B, H, W)``, before the occluder)."""
    a = assets
    dev = a.sprites.device
    W, H = a.size
    ss = max(1, int(supersample))
    Wc, Hc = W * ss, H * ss
    B, K = len(a), len(a) // len(a.sprites)
    # small host → device copies first: on CUDA each waits for the work queued before it
    level = (a.level.cpu() - int(math.log2(ss))).clamp(0, _levels(a.sprites.shape[-1]) - 1)
    groups = [(lv, (level == lv).nonzero()[:, 0].to(dev)) for lv in level.unique().tolist()]
    perms = CHANNEL_ORDERS.to(dev)[a.bg_perm]
    luma = torch.tensor([0.299, 0.587, 0.114], device=dev)[:, None, None]
    pid = torch.arange(B, device=dev) // K
    levels = _pyramid(a.sprites.float().div_(255.0))

    # --- the object: every pixel centre → the sprite; each view samples its own mip level
    px = (torch.arange(Wc, device=dev, dtype=torch.float32) + 0.5) / ss
    py = (torch.arange(Hc, device=dev, dtype=torch.float32) + 0.5) / ss
    A, M = pixel_maps(a.origin, a.pixel_scale, a.angle, a.extent, a.homography)
    grid = sample_grid(A, M, px, py)
    obj = torch.empty(B, 4, Hc, Wc, device=dev)
    for lv, idx in groups:
        obj[idx] = F.grid_sample(levels[lv][pid[idx]], grid[idx], align_corners=False)
    alpha = obj[:, 3:]
    rgb = (obj[:, :3] * a.gain[:, :, None, None] + a.bias[:, :, None, None]).clamp_(0, 1)

    # --- the background: a crop of a pool image, flipped, its channels reordered
    bg = a.backgrounds[a.bg_index].float().div_(255.0)
    bg = torch.gather(bg, 1, perms[:, :, None, None].expand_as(bg))
    cw = a.bg_crop[:, 0].sqrt()  # the crop's side, as a fraction of the image's
    cx = (2 * a.bg_crop[:, 1] - 1) * (1 - cw)
    cy = (2 * a.bg_crop[:, 2] - 1) * (1 - cw)
    fx = torch.where(a.bg_flip[:, 0], -cw, cw)
    fy = torch.where(a.bg_flip[:, 1], -cw, cw)
    ux, uy = 2 * px / W - 1, 2 * py / H - 1  # pixel centres in grid_sample's [-1, 1]
    bg_grid = torch.stack(
        [
            (fx[:, None] * ux + cx[:, None])[:, None, :].expand(B, Hc, Wc),
            (fy[:, None] * uy + cy[:, None])[:, :, None].expand(B, Hc, Wc),
        ],
        -1,
    )
    img = F.grid_sample(bg, bg_grid, align_corners=False, padding_mode="border")
    img = img * (1 - alpha) + rgb * alpha

    # --- the occluder patch
    ob = a.occluder_box
    inx = (px[None] >= ob[:, 0, None]) & (px[None] <= ob[:, 2, None])  # (B, Wc)
    iny = (py[None] >= ob[:, 1, None]) & (py[None] <= ob[:, 3, None])  # (B, Hc)
    patch = (iny[:, :, None] & inx[:, None, :])[:, None]
    img = torch.where(patch, a.occluder_rgb[:, :, None, None], img)

    # --- downscale, then blur (the CPU renderer blurs at 2× the size: half the sigma here)
    if ss > 1:
        img = F.avg_pool2d(img, ss)
        alpha = F.avg_pool2d(alpha, ss)
    img = _gaussian_blur(img, a.blur / 2, math.ceil(1.5 * _MAX_BLUR))

    # --- saturation, contrast (about the image's grey and mean), brightness, noise
    ph = a.photometric[:, :, None, None, None]
    grey = (img * luma).sum(1, keepdim=True)
    img = grey + (img - grey) * ph[:, 2]
    mean = img.mean((1, 2, 3), keepdim=True)
    img = mean + (img - mean) * ph[:, 1] + ph[:, 0]
    g = torch.Generator(device=dev)
    g.manual_seed(a.noise_seed)
    img = img + torch.randn(img.shape, device=dev, generator=g) * ph[:, 3]
    img = img.clamp_(0, 1)
    return (img, alpha[:, 0]) if with_alpha else img
