"""Where two photos matched: the density of verified match points over a photo."""

from __future__ import annotations

import cv2
import numpy as np


def match_heat(points: np.ndarray, size: tuple[int, int], sigma: float = 0.04) -> np.ndarray:
    """ "Where it matched": density of verified match points ``(n, 2)`` over a photo of
    ``size = (W, H)``, as ``(h, w) float32`` in [0, 1] at most 256 px on its long side
    (``engine.network.seed.heatmap`` upsamples it). ``sigma`` is a fraction of the long side."""
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
