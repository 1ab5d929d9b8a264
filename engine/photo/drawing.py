"""Drawing over a photo: a heatmap upsampled to it, its colour overlay, an outline and a click.

``heatmap(attention, (W, H))`` turns any low-resolution map (the network's attention, the
density of matched points) into floats in [0, 1] over the photo; ``overlay(heat, opacity)``
gives the ready RGBA colour overlay the window draws (``attention_overlay``,
``points_overlay``: both steps at a chosen size; ``points_heat``: the density of matched
points); ``draw_overlay`` blends them into the photo with a box and a click marked.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from engine.errors import VisualSearchError

# anchor colours of the overlay's colour map (dark blue → cyan → yellow → red)
_ANCHORS = np.array(
    [
        [0.05, 0.03, 0.35],
        [0.10, 0.45, 0.85],
        [0.15, 0.80, 0.75],
        [0.95, 0.90, 0.20],
        [0.90, 0.15, 0.10],
    ],
    np.float32,
)
_LUT = np.stack(
    [
        np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_ANCHORS)), _ANCHORS[:, ch])
        for ch in range(3)
    ],
    axis=1,
)
LUT_RGB = (np.clip(_LUT, 0, 1) * 255).astype(np.uint8)  # (256, 3)


def heatmap(attention: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``attention (h, w)`` → ``(H, W) float32`` in [0, 1] for a photo of ``size = (W, H)``
    (bilinear; re-normalised to the full range)."""
    a = np.asarray(attention, np.float32)
    if a.ndim != 2 or a.size == 0:
        raise VisualSearchError("attention must be a non-empty 2-D map")
    img = Image.fromarray(a, mode="F").resize(size, Image.Resampling.BILINEAR)
    h = np.asarray(img, np.float32)
    lo, hi = float(h.min()), float(h.max())
    return (h - lo) / (hi - lo) if hi > lo else np.zeros_like(h)


def overlay(heat: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """``(H, W)`` in [0, 1] → ``(H, W, 4) uint8`` RGBA; alpha grows with the heat."""
    idx = np.clip((np.asarray(heat) * 255).round(), 0, 255).astype(np.uint8)
    rgba = np.empty((*idx.shape, 4), np.uint8)
    rgba[..., :3] = LUT_RGB[idx]
    rgba[..., 3] = np.clip(255 * opacity * (0.25 + 0.75 * heat), 0, 255).astype(np.uint8)
    return rgba


def draw_overlay(
    photo: Image.Image,
    heat: np.ndarray | None,
    box=None,
    colour=(0, 255, 90),
    opacity: float = 0.45,
    point=None,
) -> Image.Image:
    """The photo with its heatmap blended in, the found box outlined and the click marked."""
    from PIL import ImageDraw

    base = photo.convert("RGBA")
    if heat is not None:
        layer = Image.fromarray(overlay(heat, opacity), "RGBA").resize(base.size)
        base = Image.alpha_composite(base, layer)
    d = ImageDraw.Draw(base)
    width = max(2, round(max(base.size) / 200))
    if box is not None:
        d.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=(*colour, 255), width=width)
    if point is not None:
        r = 3 * width
        d.ellipse(
            [point[0] - r, point[1] - r, point[0] + r, point[1] + r],
            outline=(255, 255, 255, 255),
            width=width,
        )
    return base.convert("RGB")


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def points_heat(points: np.ndarray, size: tuple[int, int], sigma: float = 0.04) -> np.ndarray:
    """ "Where it matched": the density of points ``(n, 2)`` (verified match points) over a
    photo of ``size = (W, H)``, as ``(h, w) float32`` in [0, 1] at most 256 px on its long side
    (``heatmap`` upsamples it). ``sigma`` is a fraction of the long side."""
    w, h = size
    f = 256.0 / max(w, h, 1)
    hw = (max(1, round(h * f)), max(1, round(w * f)))
    heat = np.zeros(hw, np.float32)
    if len(points):
        xy = np.clip(np.round(np.asarray(points, np.float32) * f), 0, [hw[1] - 1, hw[0] - 1])
        np.add.at(heat, (xy[:, 1].astype(int), xy[:, 0].astype(int)), 1.0)
        s = max(1.0, sigma * max(hw))
        heat = cv2.GaussianBlur(heat, (0, 0), s)
        heat /= max(float(heat.max()), 1e-12)
    return heat


def points_overlay(points, size: tuple[float, float], side: int) -> np.ndarray:
    """``(H, W, 4) uint8``: the colour overlay of the density of ``points (n, 2)`` over a photo
    of ``size`` (W, H), at most ``side`` px on its long side."""
    s = min(1.0, side / max(size))
    out = (max(1, round(size[0] * s)), max(1, round(size[1] * s)))
    heat = points_heat(np.asarray(points, np.float32).reshape(-1, 2), (size[0], size[1]))
    return overlay(heatmap(heat, out), 1.0)


def attention_overlay(attention: np.ndarray, size: tuple[float, float], side: int) -> np.ndarray:
    """``(H, W, 4) uint8``: the colour overlay of an attention map over a photo (or region) of
    ``size`` (W, H), at most ``side`` px on its long side."""
    s = min(1.0, side / max(size))
    out = (max(1, round(size[0] * s)), max(1, round(size[1] * s)))
    return overlay(heatmap(attention, out), 1.0)
