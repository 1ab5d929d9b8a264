"""Procedural photos: textured objects pasted into clutter, with known boxes.

Every object identity is a seed: the same identity always draws the same object (shape,
palette, texture, glyphs), seen under a different pose, scale, colour, blur and occlusion in
each scene. Tests, the demo photos and training data come from here; nothing is downloaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

_GLYPHS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789#&@%$"


def _palette(rng: np.random.Generator, n: int) -> list[tuple[int, int, int]]:
    base = rng.uniform(0, 1)
    out = []
    for k in range(n):
        h = (base + k / n + rng.uniform(-0.08, 0.08)) % 1.0
        s, v = rng.uniform(0.5, 1.0), rng.uniform(0.35, 1.0)
        i = int(h * 6) % 6
        f = h * 6 - int(h * 6)
        p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
        r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
        out.append((int(r * 255), int(g * 255), int(b * 255)))
    return out


def _shape_polygon(rng: np.random.Generator, size: int) -> list[tuple[float, float]]:
    kind = rng.integers(0, 4)
    c = size / 2
    if kind == 0:  # star
        n = int(rng.integers(5, 9))
        r1, r2 = c * 0.95, c * rng.uniform(0.45, 0.7)
        return [
            (
                c + (r1 if i % 2 == 0 else r2) * math.cos(math.pi * i / n),
                c + (r1 if i % 2 == 0 else r2) * math.sin(math.pi * i / n),
            )
            for i in range(2 * n)
        ]
    if kind == 1:  # irregular blob
        n = int(rng.integers(7, 14))
        radii = rng.uniform(0.6, 0.95, n) * c
        return [
            (c + r * math.cos(2 * math.pi * i / n), c + r * math.sin(2 * math.pi * i / n))
            for i, r in enumerate(radii)
        ]
    if kind == 2:  # rounded-ish box / sign
        m = size * rng.uniform(0.02, 0.12)
        return [(m, m * 2), (size - m, m), (size - m * 2, size - m), (m * 1.5, size - m * 1.5)]
    n = int(rng.integers(3, 7))  # regular polygon
    rot = rng.uniform(0, 2 * math.pi)
    return [
        (
            c + 0.95 * c * math.cos(rot + 2 * math.pi * i / n),
            c + 0.95 * c * math.sin(rot + 2 * math.pi * i / n),
        )
        for i in range(n)
    ]


def render_object(identity: int, size: int = 256) -> Image.Image:
    """The object of ``identity`` as an RGBA image of ``size x size`` (alpha = its silhouette)."""
    rng = np.random.default_rng(np.random.SeedSequence([identity, 0x5EED]))
    cols = _palette(rng, 5)
    tex = Image.new("RGB", (size, size), cols[0])
    d = ImageDraw.Draw(tex)
    # a unique, non-periodic layout of primitives: like the details of a real object, it
    # matches only itself (periodic textures would match any other of their family)
    for _ in range(int(rng.integers(25, 45))):
        kind = int(rng.integers(0, 4))
        c = cols[int(rng.integers(1, 5))]
        x, y = rng.uniform(0, size, 2)
        r = rng.uniform(size / 40, size / 7)
        if kind == 0:
            d.ellipse([x - r, y - r, x + r, y + r], fill=c)
        elif kind == 1:
            n = int(rng.integers(3, 6))
            a0 = rng.uniform(0, 2 * math.pi)
            d.polygon(
                [
                    (
                        x + r * math.cos(a0 + 2 * math.pi * i / n),
                        y + r * math.sin(a0 + 2 * math.pi * i / n),
                    )
                    for i in range(n)
                ],
                fill=c,
            )
        elif kind == 2:
            x2, y2 = rng.uniform(0, size, 2)
            d.line([x, y, x2, y2], fill=c, width=int(rng.integers(2, 7)))
        else:
            d.rectangle(
                [x - r, y - r / 2, x + r, y + r / 2], outline=c, width=int(rng.integers(2, 5))
            )
    font = ImageFont.load_default(size=max(12, size // 5))
    for _ in range(int(rng.integers(1, 4))):
        text = "".join(rng.choice(list(_GLYPHS), size=int(rng.integers(1, 4))))
        x, y = rng.uniform(0.15, 0.55) * size, rng.uniform(0.15, 0.65) * size
        d.text(
            (x, y),
            text,
            fill=cols[int(rng.integers(2, 5))],
            font=font,
            stroke_width=2,
            stroke_fill=cols[0],
        )
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).polygon(_shape_polygon(rng, size), fill=255)
    ImageDraw.Draw(tex).polygon(_shape_polygon(rng, size), outline=cols[4], width=4)
    out = tex.convert("RGBA")
    out.putalpha(mask)
    return out


def render_clutter(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A busy background: gradients, shapes, lines and noise."""
    cols = _palette(rng, 6)
    gy = np.linspace(0, 1, height)[:, None, None]
    a, b = np.array(cols[0], float), np.array(cols[1], float)
    bg = (a * (1 - gy) + b * gy) * np.ones((1, width, 1))
    im = Image.fromarray(bg.astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(15, 40))):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        w, h = rng.uniform(10, width / 3), rng.uniform(10, height / 3)
        c = tuple(
            int(v)
            for v in np.clip(np.array(cols[int(rng.integers(0, 6))]) + rng.normal(0, 30, 3), 0, 255)
        )
        k = rng.integers(0, 3)
        if k == 0:
            d.rectangle([x, y, x + w, y + h], fill=c)
        elif k == 1:
            d.ellipse([x, y, x + w, y + h], fill=c)
        else:
            d.line([x, y, x + w, y + h], fill=c, width=int(rng.integers(1, 6)))
    noise = rng.normal(0, 8, (height, width, 3))
    arr = np.clip(np.asarray(im, float) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


@dataclass
class Placement:
    identity: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the scene


def _perspective(obj: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    w, h = obj.size
    j = strength * min(w, h)
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = [(x + rng.uniform(-j, j), y + rng.uniform(-j, j)) for x, y in src]
    # solve the 8 coefficients mapping output (dst) → input (src) as PIL expects
    A, B = [], []
    for (xd, yd), (xs, ys) in zip(dst, src, strict=True):
        A.append([xd, yd, 1, 0, 0, 0, -xs * xd, -xs * yd])
        A.append([0, 0, 0, xd, yd, 1, -ys * xd, -ys * yd])
        B += [xs, ys]
    coeffs = np.linalg.solve(np.array(A, float), np.array(B, float))
    return obj.transform(
        (w, h), Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BILINEAR
    )


def render_scene(
    identities: list[int],
    seed: int,
    size: tuple[int, int] = (480, 360),
    scale: tuple[float, float] = (0.3, 0.6),
    max_rotation: float = 30.0,
    perspective: float = 0.1,
    occlusion: float = 0.3,
) -> tuple[Image.Image, list[Placement]]:
    """Paste the objects of ``identities`` into clutter; returns the RGB scene and their boxes.

    ``scale`` is the object's side relative to the scene's short side.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC1077E2]))
    width, height = size
    scene = render_clutter(rng, width, height)
    placements = []
    for ident in identities:
        side = int(min(width, height) * rng.uniform(*scale))
        obj = render_object(ident, 256)
        if perspective > 0:
            obj = _perspective(obj, rng, perspective)
        obj = obj.rotate(
            rng.uniform(-max_rotation, max_rotation), Image.Resampling.BILINEAR, expand=True
        )
        obj = obj.resize((side, side), Image.Resampling.BILINEAR)
        rgb = np.asarray(obj.convert("RGB"), float)
        gain, bias = rng.uniform(0.75, 1.25, 3), rng.normal(0, 12, 3)
        rgb = np.clip(rgb * gain + bias, 0, 255).astype(np.uint8)
        obj = Image.merge("RGBA", (*Image.fromarray(rgb, "RGB").split(), obj.getchannel("A")))
        bbox = obj.getchannel("A").getbbox()
        if bbox is None:
            continue
        x = int(rng.integers(0, max(1, width - side)))
        y = int(rng.integers(0, max(1, height - side)))
        scene.paste(obj, (x, y), obj)
        box = (x + bbox[0], y + bbox[1], min(width, x + bbox[2]), min(height, y + bbox[3]))
        placements.append(Placement(ident, box))
        if occlusion > 0 and rng.uniform() < occlusion:
            d = ImageDraw.Draw(scene)
            bw, bh = box[2] - box[0], box[3] - box[1]
            ox, oy = box[0] + rng.uniform(0, bw * 0.7), box[1] + rng.uniform(0, bh * 0.7)
            c = tuple(int(v) for v in rng.integers(0, 256, 3))
            d.rectangle([ox, oy, ox + bw * 0.3, oy + bh * 0.3], fill=c)
    if rng.uniform() < 0.5:
        scene = scene.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    return scene, placements


SAMPLE_SIZE = (640, 480)
SAMPLE_SCALE = (0.35, 0.6)


def _sample_scenes(identities: int, views: int, size: tuple[int, int]):
    for ident in range(identities):
        for v in range(views):
            scene, pl = render_scene([ident], seed=1000 * ident + v, size=size, scale=SAMPLE_SCALE)
            yield f"obj{ident:02d}_{v}.jpg", scene, pl[0].box


def write_sample_photos(
    out_dir, identities: int = 6, views: int = 2, size: tuple[int, int] = SAMPLE_SIZE
) -> list:
    """The demo set shipped in ``resources/samples``: ``views`` photos of each identity.

    File names are ``obj<identity>_<view>.jpg``; the same call always writes the same photos.
    """
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, scene, _ in _sample_scenes(identities, views, size):
        scene.save(out / name, quality=88)
        paths.append(out / name)
    return paths


def sample_boxes(
    identities: int = 6, views: int = 2, size: tuple[int, int] = SAMPLE_SIZE
) -> dict[str, tuple[int, int, int, int]]:
    """The object box of every bundled sample photo, by file name."""
    return {name: box for name, _, box in _sample_scenes(identities, views, size)}


if __name__ == "__main__":  # python -m engine.training.generator resources/samples
    import sys

    for p in write_sample_photos(sys.argv[1] if len(sys.argv) > 1 else "samples"):
        print(p)


# --------------------------------------------------------------------------- data sets

#: evaluation identities start here, so they never meet training identities
EVAL_IDENTITY_OFFSET = 1_000_000


def write_training_set(
    out_dir,
    classes: int = 50,
    per_class: int = 10,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    first_identity: int = 0,
) -> dict:
    """A folder-per-class training set: ``out/<class>/<n>.jpg``, one object identity per class,
    each image a new scene (pose, scale, colour, clutter, occlusion)."""
    from pathlib import Path

    out = Path(out_dir)
    n = 0
    for c in range(classes):
        ident = first_identity + c
        d = out / f"{ident:07d}"
        d.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            scene, _ = render_scene(
                [ident], seed=hash((seed, ident, k)) & 0x7FFFFFFF, size=size, scale=(0.3, 0.75)
            )
            scene.save(d / f"{k:04d}.jpg", quality=90)
            n += 1
    return {"classes": classes, "images": n, "first_identity": first_identity}


def write_eval_set(
    out_dir,
    queries: int = 10,
    positives: int = 6,
    distractors: int = 40,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    name: str = "synth",
    first_identity: int = EVAL_IDENTITY_OFFSET,
) -> dict:
    """A Revisited-Oxford-style evaluation set: ``out/jpg/*.jpg`` and ``out/gnd_<name>.pkl``.

    Each query identity has one query photo (``bbx`` = its object's box) and ``positives``
    database photos: the first half *easy* (large, upright, unoccluded), the rest *hard*
    (small, turned, occluded); one more photo shows only a sliver of it and is *junk*.
    ``distractors`` photos show other objects (never queried) in clutter.
    """
    import pickle
    from pathlib import Path

    out = Path(out_dir)
    jpg = out / "jpg"
    jpg.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    imlist: list[str] = []
    qimlist: list[str] = []
    gnd = []

    def save(img, name_):
        img.save(jpg / f"{name_}.jpg", quality=90)
        return name_

    for q in range(queries):
        ident = first_identity + q
        s = int(rng.integers(0, 2**31))
        qimg, pl = render_scene(
            [ident],
            seed=s,
            size=size,
            scale=(0.45, 0.7),
            max_rotation=10,
            perspective=0.05,
            occlusion=0.0,
        )
        qimlist.append(save(qimg, f"query_{q:03d}"))
        b = pl[0].box
        entry = {"bbx": [float(v) for v in b], "easy": [], "hard": [], "junk": []}
        for k in range(positives):
            hard = k >= (positives + 1) // 2
            s = int(rng.integers(0, 2**31))
            if hard:
                img, _ = render_scene(
                    [ident],
                    seed=s,
                    size=size,
                    scale=(0.2, 0.35),
                    max_rotation=60,
                    perspective=0.2,
                    occlusion=1.0,
                )
            else:
                img, _ = render_scene(
                    [ident],
                    seed=s,
                    size=size,
                    scale=(0.45, 0.7),
                    max_rotation=15,
                    perspective=0.05,
                    occlusion=0.0,
                )
            entry["hard" if hard else "easy"].append(len(imlist))
            imlist.append(save(img, f"db_{q:03d}_{k:02d}"))
        # junk: the object mostly outside the frame
        s = int(rng.integers(0, 2**31))
        img, pl = render_scene([ident], seed=s, size=size, scale=(0.5, 0.6), occlusion=0.0)
        w, h = size
        bx = pl[0].box
        shift = int(bx[2] - bx[0]) * 0.85
        canvas = render_clutter(np.random.default_rng(s), w, h)
        canvas.paste(img.crop((0, 0, w, h)), (int(w - bx[0] - (bx[2] - bx[0]) + shift) - w, 0))
        entry["junk"].append(len(imlist))
        imlist.append(save(canvas, f"db_{q:03d}_junk"))
        gnd.append(entry)
    for k in range(distractors):
        ident = first_identity + queries + k
        s = int(rng.integers(0, 2**31))
        img, _ = render_scene([ident], seed=s, size=size, scale=(0.3, 0.7))
        imlist.append(save(img, f"distractor_{k:04d}"))
    # shuffle the database order so that positives are not adjacent by name
    order = rng.permutation(len(imlist))
    new_index = np.empty_like(order)
    new_index[order] = np.arange(len(order))
    imlist = [imlist[i] for i in order]
    for e in gnd:
        for key in ("easy", "hard", "junk"):
            e[key] = sorted(int(new_index[i]) for i in e[key])
    gnd_path = out / f"gnd_{name}.pkl"
    with open(gnd_path, "wb") as f:
        pickle.dump({"imlist": imlist, "qimlist": qimlist, "gnd": gnd}, f)
    return {"gnd": str(gnd_path), "images": str(jpg), "queries": queries, "database": len(imlist)}
