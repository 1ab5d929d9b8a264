"""A library with repeated objects to mine: 8 objects seen in 3 scenes each, 4 scenes with an
object of their own, and a smaller recompressed copy of one photo (a near-duplicate)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import MODEL

OBJECTS, VIEWS = 8, 3


def make_planted(root: Path) -> Path:
    """Write the photos under ``root / "photos"`` and index them into ``root / "lib"``."""
    from engine.library import Library
    from engine.training.generator import render_scene

    photos = root / "photos"
    photos.mkdir()
    kw = {"size": (480, 360), "scale": (0.5, 0.7), "max_rotation": 15, "perspective": 0.05}
    for ident in range(OBJECTS):
        for view in range(VIEWS):
            img, _ = render_scene([ident], seed=100 * ident + view, **kw)
            img.save(photos / f"obj{ident}_{view}.jpg", quality=90)
    for d in range(4):
        img, _ = render_scene([50 + d], seed=9000 + d, size=(480, 360))
        img.save(photos / f"single{d}.jpg", quality=90)
    img, _ = render_scene([2], seed=200, **kw)
    img.resize((360, 270)).save(photos / "obj2_copy.jpg", quality=70)
    with Library(root / "lib", device="cpu") as lib:
        lib.index([photos], model=MODEL)
    return root
