"""Where the network looked: its attention map over a photo, as floats and as a ready overlay."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.photo.drawing import draw_overlay, heatmap, overlay


@dataclass
class Explanation:
    """Heatmap data for one photo: ``heat (H, W)`` in [0, 1] over the photo (or its box
    region), ``rgba (H, W, 4)`` the colour overlay, ``attention (h, w)`` the raw map."""

    heat: np.ndarray
    rgba: np.ndarray
    attention: np.ndarray
    box: tuple[float, float, float, float] | None


def explain(extractor, src, box=None, opacity: float = 0.5, max_side: int = 1024) -> Explanation:
    """Where the model looked in a photo, as floats and as a ready overlay."""
    out = extractor.extract_one(src, box=box)
    if out.box:
        w, h = out.box[2] - out.box[0], out.box[3] - out.box[1]
    else:
        w, h = out.original_size
    s = min(1.0, max_side / max(w, h))
    heat = heatmap(out.attention, (max(1, round(w * s)), max(1, round(h * s))))
    return Explanation(heat, overlay(heat, opacity), out.attention, out.box)


def render_overlay(extractor, src, box=None, point=None) -> Image.Image:
    """``src`` at full size with the model's attention over the whole photo, ``box`` outlined and
    ``point`` marked (``src`` is extracted again for its attention map)."""
    from engine.photo.decode import load_photo

    photo = load_photo(src, max_side=None).image
    att = extractor.extract_one(src).attention
    return draw_overlay(photo, heatmap(att, photo.size), box, point=point)
