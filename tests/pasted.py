"""Real photos with a known object: a real cut-out (``tests/data/box.png``, a cookie box)
pasted into other real photos (``tests/data``: see its SOURCES.md) at known places, sizes and
angles, so its true box in each is known."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tests.helpers import ROOT

DATA = ROOT / "tests" / "data"
#: (background, centre, scale, angle in degrees counter-clockwise) of each photo with the box
QUERY = ("fruits.jpg", (300, 230), 0.6, 0.0)
HOLDING = (("building.jpg", (560, 330), 0.7, 20.0), ("messi5.jpg", (150, 200), 0.5, -12.0))
#: photos without the box; the query's own background among them
WITHOUT = ("building.jpg", "messi5.jpg", "fruits.jpg")


@dataclass
class Pasted:
    """The query (with its box's true box and centre), the photos that hold the box (with
    their true boxes) and those that do not."""

    query: Path
    box: tuple[float, float, float, float]
    point: tuple[float, float]
    holding: list[tuple[Path, tuple[float, float, float, float]]]
    without: list[Path]


def paste(background: str, centre, scale: float, angle: float, out: Path):
    """``background`` with the box pasted, saved as JPEG at ``out``; its true box."""
    bg = Image.open(DATA / background).convert("RGB")
    obj = Image.open(DATA / "box.png").convert("RGBA")
    w, h = round(obj.width * scale), round(obj.height * scale)
    obj = obj.resize((w, h), Image.Resampling.LANCZOS)
    turned = obj.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    x0 = round(centre[0] - turned.width / 2)
    y0 = round(centre[1] - turned.height / 2)
    bg.paste(turned, (x0, y0), turned)
    bg.save(out, quality=90)
    cx, cy = x0 + turned.width / 2, y0 + turned.height / 2
    a = math.radians(angle)
    hw = abs(w / 2 * math.cos(a)) + abs(h / 2 * math.sin(a))
    hh = abs(w / 2 * math.sin(a)) + abs(h / 2 * math.cos(a))
    return (cx - hw, cy - hh, cx + hw, cy + hh)


def pasted_photos(folder: Path) -> Pasted:
    """Write the photos into ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    query = folder / "query.jpg"
    box = paste(*QUERY, query)
    holding = []
    for i, spec in enumerate(HOLDING):
        p = folder / f"with{i}_{Path(spec[0]).stem}.jpg"
        holding.append((p, paste(*spec, p)))
    without = []
    for name in WITHOUT:
        p = folder / f"without_{Path(name).stem}.jpg"
        Image.open(DATA / name).convert("RGB").save(p, quality=90)
        without.append(p)
    point = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    return Pasted(query, box, point, holding, without)
