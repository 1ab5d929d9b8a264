"""What the clicked object is: its extent in the query, grown from the click (or a drawn box) by
a seeded segmentation (OpenCV's GrabCut).

A click: the rectangle is a square of ``RECT`` × the query's long side centred on the click;
GrabCut runs in a window of that square plus ``MARGIN`` × its side on each edge, reduced to
``WORK`` px on its long side (fast, and colour models need no more). Outside the square is sure
background (at least a one-pixel border), inside probable foreground, a disc of ``SEED`` × the
square's side at the click sure foreground. The extent is the convex hull of the segment's
part that holds the click (else its largest part); with no segment, the square.

A drawn box: the same with the box as the rectangle and no seed disc; a segment under
``MIN_BOX_SHARE`` of the box means GrabCut failed, and the box is the extent.

Measured on the click-to-localize benchmark (``bench localize``): the click's extent has IoU
0.89 with the object's true box, the box's 0.95-0.97.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.match.verify import box_quad

#: the click's rectangle: a square of this fraction of the query's long side
RECT = 0.5
#: the window around the rectangle (the background model), a fraction of its long side
MARGIN = 0.3
#: the window's long side for GrabCut, px
WORK = 160
ITERATIONS = 4
#: the sure-foreground disc at the click, radius as a fraction of the rectangle's side
SEED = 0.04
#: a box's segment smaller than this share of the box: the box itself is the extent
MIN_BOX_SHARE = 0.2

Rect = tuple[float, float, float, float]


def square_around(point: tuple[float, float], side: float, size: tuple[float, float]) -> Rect:
    """The square of ``side`` centred on ``point``, clipped to a photo of ``size`` (W, H)."""
    w, h = size
    x, y = point
    return (
        max(0.0, x - side / 2),
        max(0.0, y - side / 2),
        min(w, x + side / 2),
        min(h, y + side / 2),
    )


def click_extent(rgb: np.ndarray, point: tuple[float, float]) -> np.ndarray:
    """``(n, 2) float32`` convex polygon of the object under ``point`` in ``rgb (H, W, 3)``
    (the query's pixels)."""
    h, w = rgb.shape[:2]
    side = RECT * max(w, h)
    rect = square_around(point, side, (w, h))
    return _segment(rgb, rect, MARGIN * side, point)


def box_extent(rgb: np.ndarray, box: Rect) -> np.ndarray:
    """``(n, 2) float32`` convex polygon of the object in a drawn ``box``, or the box's
    corners when the segmentation fails."""
    x0, y0, x1, y1 = box
    return _segment(rgb, box, MARGIN * max(x1 - x0, y1 - y0), None)


def _window(rgb: np.ndarray, rect: Rect, margin: float) -> tuple[np.ndarray, float, int, int]:
    """The window around ``rect``, reduced to ``WORK`` px: ``(small, scale, x0, y0)``."""
    h, w = rgb.shape[:2]
    x0, y0 = int(max(0, rect[0] - margin)), int(max(0, rect[1] - margin))
    x1, y1 = int(min(w, rect[2] + margin)), int(min(h, rect[3] + margin))
    win = rgb[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)]
    s = WORK / max(win.shape[:2])
    size = (max(8, round(win.shape[1] * s)), max(8, round(win.shape[0] * s)))
    return cv2.resize(win, size, interpolation=cv2.INTER_AREA), s, x0, y0


def _segment(rgb: np.ndarray, rect: Rect, margin: float, point) -> np.ndarray:
    small, s, wx, wy = _window(rgb, rect, margin)
    h, w = small.shape[:2]
    mask = np.full((h, w), cv2.GC_BGD, np.uint8)
    a0, b0 = max(1, int((rect[0] - wx) * s)), max(1, int((rect[1] - wy) * s))
    a1, b1 = min(w - 1, int((rect[2] - wx) * s)), min(h - 1, int((rect[3] - wy) * s))
    fallback = box_quad(rect)
    if a1 - a0 < 2 or b1 - b0 < 2:
        return fallback
    mask[b0:b1, a0:a1] = cv2.GC_PR_FGD
    seed = None
    if point is not None:
        seed = (int((point[0] - wx) * s), int((point[1] - wy) * s))
        radius = max(2, int(SEED * (a1 - a0)))
        cv2.circle(mask, seed, radius, int(cv2.GC_FGD), -1)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    bgr = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2BGR)
    # GrabCut seeds its colour models by k-means from this thread's random generator: the same
    # seed each time, so that a click gives one extent whatever ran before it
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(bgr, mask, None, bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # too few pixels for its colour models: the rectangle it is
        return fallback
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
    part = _part(fg, seed)
    if part is None:
        return fallback
    if point is None and cv2.contourArea(part) < MIN_BOX_SHARE * (a1 - a0) * (b1 - b0):
        return fallback
    hull = cv2.convexHull(part).reshape(-1, 2).astype(np.float32)
    if len(hull) < 3:
        return fallback
    return hull / np.float32(s) + np.float32([wx, wy])


def _part(fg: np.ndarray, seed) -> np.ndarray | None:
    """The outer contour of the segment's part holding ``seed`` (else its largest part)."""
    n, labels = cv2.connectedComponents(fg)
    if n < 2:
        return None
    h, w = fg.shape
    k = 0
    if seed is not None:
        k = int(labels[min(h - 1, max(0, seed[1])), min(w - 1, max(0, seed[0]))])
    if k == 0:
        k = 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    contours, _ = cv2.findContours(
        (labels == k).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    return max(contours, key=cv2.contourArea) if contours else None
