"""Build the real-photo evaluation set and the codebook training pool.

    bash scripts/fetch-photo-sources.sh build/photo-sources
    python scripts/make_photo_benchmark.py --out build/photobench --seed 0 \\
        --sources build/photo-sources --train-out build/photopool-train

Plain numpy, Pillow and OpenCV; deterministic for a seed and the same unpacked sources (their
versions and archive hashes are recorded in ``sources.json``). About 2 minutes on two cores;
the set is about 100 MB, the train pool 25 MB.

Sources and pools
-----------------
Photographs shipped by Debian packages (and scikit-image's sample photos), split into two
pools that are disjoint by package (``POOLS`` below lists the files each takes):

* ``train``: for learning a generic visual-word codebook (k-means on RootSIFT). Written to
  ``--train-out`` (long side at most 1,024 px) with its own ``sources.json``.
* ``eval``: the only photos the benchmark is built from.

Duplicates are dropped by content (SHA-256 of the file, then a 256-bit difference hash of the
pixels); a train photo equal to an eval photo, or sharing a scene with one (at least
``SAME_SCENE_INLIERS`` RANSAC inliers between their RootSIFT features), is dropped from the
train pool. Eval photos that share a scene (the same check, or numbered shots such as
``pool.jpg`` and ``pool_2.jpg`` of one package) form one *group*; a group that gives a query
object is never used anywhere else in the set. The packages reserved for independent
evaluation of the product are refused by the hash of their name.

The benchmark (Revisited-Oxford format)
---------------------------------------
*Objects*: ``--objects`` cut-outs (rectangle, ellipse or star-shaped polygon mask) from eval
photos; a candidate region is kept only when it has texture (at least ``MIN_OBJECT_KEYPOINTS``
SIFT keypoints inside the mask at a 320 px long side, a grey-level spread of at least 18 and
at most half of it flat); the first of up to 16 random candidates that passes is taken
(not the most textured one), up to 1-3 non-overlapping objects per photo by its size (long
side under 800 px, 800-1,999 px, 2,000 px and more).

*Queries*: the object's own source photo, cropped around the object (the object is 35-75 %
of the crop) and resized to a long side of 800-1,400 px (never enlarged); ``bbx`` is the
object's rectangle in it, so the protocol's box crop gives the object with no paste. The
source photo itself never enters the database.

*Database*: views of the other eval photos (a random crop of 35-100 % of each side, at least
800 px where the photo has them, mirrored half the time, mild exposure change, resized to a
long side of 640-1,600 px, mode 1,024, never enlarged more than 1.25x). ``--positives`` views
per object (from distinct photo groups) get the object pasted with

* scale ``r`` = object's longer side / photo's longer side, 0.10-0.60 (the object is never
  enlarged more than 2x over its cut-out; when the transformed object does not fit it is
  shrunk and the realised ``r`` recorded),
* rotation ``theta`` up to +-60 degrees,
* perspective ``p``: each corner of the object moved by up to ``p`` times its longer side,
  ``p`` up to 0.25,
* colour: gain 0.55-1.6, gamma 0.6-1.7, saturation 0.35-1.9, per-channel tint +-5 %,
* defocus blur (Gaussian sigma 0-3 px at database resolution),
* occlusion by a patch of another photo covering up to half of the object,
* JPEG quality 30-95 for the whole photo.

Half of each object's positives are drawn from the mild ranges (``r`` 0.30-0.60,
``|theta|`` <= 20, ``p`` <= 0.06, occlusion <= 15 %, sigma <= 0.8, quality >= 70, colour
within +-15 %), half from middle ranges with 1-3 factors pushed to the strong ranges
(``r`` 0.10-0.19, ``|theta|`` 32-60, ``p`` 0.14-0.25, occlusion 28-50 %, sigma 1.7-3,
strong colour, quality 30-48); the label then follows from the realised values alone:

* **junk** when less than 35 % of the object is visible, or the visible part is smaller than
  32 x 32 px;
* **hard** when any of: ``r`` < 0.20; ``|theta|`` > 30; ``p`` > 0.12; visible < 75 %;
  blur sigma > 1.5 px; JPEG quality < 50; gain outside 0.75-1.30, gamma outside 0.75-1.35 or
  saturation outside 0.60-1.50;
* **easy** otherwise (large, mildly rotated, near-frontal, unoccluded, sharp, near the
  original colours).

Objects cut from the same photo show one scene: the positives of each are **junk** for the
others' queries.

The remaining database photos (``--distractors``) are views with no query object; about half
of them (``--filler-rate``) get a *filler* object pasted the same way, cut from another
eval photo that gives no query object, so that a pasted object alone does not mark a
positive.

Outputs in ``--out``: ``jpg/<name>.jpg`` (database ``db_#####``, queries ``q_###``),
``gnd_photos.pkl`` (``imlist``, ``qimlist``, ``gnd[i] = {bbx, easy, hard, junk}``, read by
``visual-search evaluate --gnd DIR/gnd_photos.pkl --images DIR/jpg``), ``boxes.json`` (per
database photo: object id or null, ``quad`` = the object rectangle's corners (top-left,
top-right, bottom-right, bottom-left of the cut-out) in the photo, ``bbox`` = the tight box of
the pasted mask, visible fraction, every transform parameter and the label; fillers
likewise), ``sources.json`` (pools,
package versions, and for every written photo the package file(s) it came from, crops in the
original photo's pixels).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import math
import pickle
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

Image.MAX_IMAGE_PIXELS = None

# sha256(name)[:16] of the packages reserved for independent evaluation: never read.
RESERVED_SHA256 = {
    "154b36408ea7e555",
    "5bbd778c4ceba49a",
    "bc15b2c541ef0fd5",
    "0dc7277e6a8bc477",
    "1f4c7eefd27b2455",
}


def _under(prefix: str, names: str) -> tuple[str, ...]:
    return tuple(prefix + n for n in names.split())


OPENCV = "usr/share/doc/opencv-doc/examples/"
SCRIBUS = "usr/share/scribus/templates/"
JXL = "usr/share/libjxl-testdata/"
LXQT = "usr/share/lxqt/wallpapers/"

# pool -> source (package, or pip distribution) -> (include globs, exclude name patterns)
POOLS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "train": {
        # planet landscapes of the game: real photographs, 720 x 360
        "endless-sky-data": (("usr/share/games/endless-sky/images/land/*.jpg",), ()),
        # OpenCV's sample photographs (no drawings, renders or calibration boards but one)
        "opencv-doc": (
            (
                *_under(
                    OPENCV + "data/",
                    "aero1.jpg aero3.jpg aloeL.jpg aloeR.jpg apple.jpg baboon.jpg "
                    "basketball1.png basketball2.png board.jpg box.png box_in_scene.png "
                    "building.jpg butterfly.jpg ela_original.jpg fruits.jpg graf1.png "
                    "graf3.png home.jpg left.jpg left01.jpg leuvenA.jpg leuvenB.jpg "
                    "licenseplate_motion.jpg messi5.jpg orange.jpg rubberwhale1.png "
                    "rubberwhale2.png squirrel_cls.jpg starry_night.jpg stuff.jpg sudoku.png",
                ),
                OPENCV + "text/scenetext0?.jpg",
            ),
            (),
        ),
    },
    "eval": {
        "lomiri-wallpapers-16.04": (
            ("usr/share/backgrounds/*.jpg",),
            ("umang_*", "analogpattern_*"),  # artwork, colour noise
        ),
        "lomiri-wallpapers-20.04": (("usr/share/backgrounds/Kleiber_*.jpg",), ()),
        "lxqt-themes": (
            _under(
                LXQT,
                "Butterfly-Kenneth-Wimer.jpg Valendas.png after-the-rain.jpg "
                "appleflower.png beam.png butterfly.png cloud.png drop.png flowers.png "
                "fog.jpg this-is-not-windows.jpg",
            ),
            (),
        ),
        "tuxpaint-data": (("usr/share/tuxpaint/templates/*.jpg",), ()),
        "palapeli-data": (("usr/share/palapeli/collection/*.jpg",), ()),
        "scribus-template": (
            (SCRIBUS + "cal2/moon.jpg", SCRIBUS + "menu2/pizza.jpg", SCRIBUS + "br2/*.jpg"),
            (),
        ),
        "kphotoalbum": (("usr/share/kphotoalbum/demo/*.jpg",), ("qt-logo.jpg",)),
        "libjxl-testdata": (
            (
                JXL + "jxl/flower/flower.png",
                JXL + "jxl/hdr_room.png",
                JXL + "external/wesaturate/500px/*_srgb8.png",
            ),
            (),
        ),
        "scikit-image": (
            _under(
                "skimage/data/",
                "astronaut.png brick.png camera.png chelsea.png coffee.png coins.png "
                "grass.png gravel.png motorcycle_left.png page.png rocket.jpg",
            ),
            (),
        ),
    },
}

# photos stored sideways whose package records the turn elsewhere (KPhotoAlbum's demo
# index.xml ``angle``): degrees clockwise
KPA = "usr/share/kphotoalbum/demo/"
TURN = {
    ("kphotoalbum", KPA + "new_wave_1.jpg"): 90,
    ("kphotoalbum", KPA + "grand_canyon_1.jpg"): 180,
    ("kphotoalbum", KPA + "wayne.jpg"): 90,
    ("kphotoalbum", KPA + "pool_2.jpg"): 270,
}

WORK_SIDE = 2048  # eval photos are held at most this size (long side)
TRAIN_SIDE = 1024  # train photos are written at most this size
MATCH_SIDE = 640  # long side for the same-scene check
SAME_SCENE_INLIERS = 20
MIN_OBJECT_KEYPOINTS = 70
DHASH_SAME = 24  # of 256 bits

HARD_RULE = {
    "r_min": 0.20,
    "theta_max": 30.0,
    "persp_max": 0.12,
    "visible_min": 0.75,
    "blur_max": 1.5,
    "quality_min": 50,
    "gain": (0.75, 1.30),
    "gamma": (0.75, 1.35),
    "saturation": (0.60, 1.50),
}
JUNK_VISIBLE = 0.35
JUNK_SIDE = 32


def reserved(name: str) -> bool:
    return hashlib.sha256(name.encode()).hexdigest()[:16] in RESERVED_SHA256


# ----------------------------------------------------------------------------------------------
# photos


@dataclass
class Photo:
    pool: str
    package: str
    file: str  # path inside the package
    path: Path
    sha256: str
    native: tuple[int, int]  # (w, h), upright
    image: np.ndarray | None = None  # RGB uint8, long side <= WORK_SIDE (eval) / TRAIN_SIDE
    group: int = -1
    dhash: np.ndarray | None = None
    features: tuple[np.ndarray, np.ndarray] | None = None  # (xy, rootsift) at MATCH_SIDE

    @property
    def label(self) -> str:
        return f"{self.package}:{self.file}"

    def native_box(self, box) -> list[int]:
        """A box of the working copy in the original photo's (upright) pixels."""
        f = self.native[0] / self.image.shape[1]
        return [round(v * f) for v in box]


def upright_rgb(im: Image.Image) -> Image.Image:
    """``im`` turned by its EXIF orientation, 16-bit grey brought to 8 bits and transparency
    laid on mid-grey, as RGB."""
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I"):
        im = im.point(lambda v: v / 257).convert("L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        im = Image.alpha_composite(bg, rgba)
    return im.convert("RGB")


def load_rgb(path: Path, max_side: int, turn: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """Upright RGB uint8 at most ``max_side`` on the long side, and the upright native size
    (``turn``: degrees clockwise to apply after the EXIF orientation)."""
    with Image.open(path) as im:
        w, h = im.size
        if im.format == "JPEG":
            f = max_side / max(w, h)
            if f < 1:
                im.draft("RGB", (max(1, int(w * f)), max(1, int(h * f))))
        im = upright_rgb(im)
        if turn:
            im = im.transpose(
                {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180}.get(
                    turn, Image.Transpose.ROTATE_90
                )
            )
        if (im.size[0] > im.size[1]) != (w > h) and im.size[0] != im.size[1]:
            w, h = h, w
        f = max_side / max(im.size)
        if f < 1:
            im = im.resize(
                (max(1, round(im.size[0] * f)), max(1, round(im.size[1] * f))),
                Image.LANCZOS,
            )
        return np.asarray(im).copy(), (w, h)


def dhash256(img: np.ndarray) -> np.ndarray:
    g = cv2.resize(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), (17, 16), interpolation=cv2.INTER_AREA)
    g = g.astype(np.int16)
    return (g[:, 1:] > g[:, :-1]).reshape(-1)


def root(parent: list[int], i: int) -> int:
    """The root of ``i`` in the union-find forest ``parent`` (paths halved on the way)."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def resize_long(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    f = side / max(h, w)
    if abs(f - 1) < 1e-6:
        return img
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)


def rootsift(desc: np.ndarray | None) -> np.ndarray:
    """RootSIFT: L1-normalise, square root (unit L2), float32."""
    if desc is None or len(desc) == 0:
        return np.zeros((0, 128), np.float32)
    d = desc.astype(np.float32)
    d /= d.sum(axis=1, keepdims=True) + 1e-7
    return np.sqrt(d)


_SIFT: dict[int, cv2.SIFT] = {}


def sift(nfeatures: int) -> cv2.SIFT:
    if nfeatures not in _SIFT:
        _SIFT[nfeatures] = cv2.SIFT_create(nfeatures=nfeatures)
    return _SIFT[nfeatures]


def features(gray: np.ndarray, nfeatures: int) -> tuple[np.ndarray, np.ndarray]:
    kps, desc = sift(nfeatures).detectAndCompute(gray, None)
    xy = np.array([k.pt for k in kps], np.float32).reshape(-1, 2)
    return xy, rootsift(desc)


def ratio_matches(
    q: np.ndarray, db: np.ndarray, lens: np.ndarray, ratio: float = 0.8, chunk: int = 8000
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Lowe-ratio matches of query descriptors ``q`` against each segment of ``db`` (the
    concatenated unit descriptors of several photos, ``lens`` rows each, every length >= 2).

    Returns ``(segment, query rows, db rows within the segment)`` for segments with a match;
    one-to-one: a database feature keeps only its most similar query feature (many-to-one
    matches would let RANSAC fit a homography that collapses everything onto one point).
    Segments are scored ``chunk`` database features at a time.
    """
    lens = np.asarray(lens, np.int64)
    off = np.concatenate([[0], np.cumsum(lens)])
    out = []
    i = 0
    while i < len(lens):
        j = i + 1
        while j < len(lens) and off[j + 1] - off[i] <= chunk:
            j += 1
        a = off[i]
        s = q @ db[a : off[j]].T
        seg = lens[i:j]
        starts = off[i:j] - a
        m1 = np.maximum.reduceat(s, starts, axis=1)
        best = s >= np.take(m1, np.repeat(np.arange(j - i), seg), axis=1)
        np.copyto(s, -1.0, where=best)
        m2 = np.maximum.reduceat(s, starts, axis=1)
        d1 = np.sqrt(np.maximum(2.0 - 2.0 * m1, 0.0))
        d2 = np.sqrt(np.maximum(2.0 - 2.0 * m2, 0.0))
        ok = d1 < ratio * d2
        for k in np.flatnonzero(ok.any(axis=0)):
            rows = np.flatnonzero(ok[:, k])
            cols = best[rows, starts[k] : starts[k] + seg[k]].argmax(axis=1)
            order = np.lexsort((-m1[rows, k], cols))
            _, first = np.unique(cols[order], return_index=True)
            keep = np.sort(order[first])
            out.append((i + int(k), rows[keep], cols[keep]))
        i = j
    return out


def ransac_inliers(p: np.ndarray, q: np.ndarray, thresh: float = 5.0) -> int:
    if len(p) < 4:
        return 0
    _, mask = cv2.findHomography(p, q, cv2.RANSAC, thresh, maxIters=2000, confidence=0.995)
    return 0 if mask is None else int(mask.sum())


def list_sources(sources: Path) -> dict[str, dict]:
    info = {}
    for pool, pkgs in POOLS.items():
        for name in pkgs:
            if reserved(name):
                raise SystemExit(f"{name}: reserved for independent evaluation, never used")
            root = sources / name
            if not (root / ".version").is_file():
                raise SystemExit(
                    f"{root}: missing; run: bash scripts/fetch-photo-sources.sh {sources}"
                )
            info[name] = {
                "pool": pool,
                "version": (root / ".version").read_text().strip(),
                "archive_sha256": (root / ".sha256").read_text().strip()
                if (root / ".sha256").is_file()
                else None,
            }
    for d in sorted(p for p in sources.iterdir() if p.is_dir()):
        if reserved(d.name):
            print(f"  note: ignoring {d.name} in {sources} (reserved)", file=sys.stderr)
    return info


def collect(sources: Path) -> dict[str, list[Photo]]:
    pools: dict[str, list[Photo]] = {p: [] for p in POOLS}
    for pool, pkgs in POOLS.items():
        for name, (globs, excludes) in pkgs.items():
            root = sources / name
            files: set[Path] = set()
            for g in globs:
                files.update(p for p in root.glob(g) if p.is_file())
            for path in sorted(files):
                if any(fnmatch.fnmatch(path.name, e) for e in excludes):
                    continue
                data = path.read_bytes()
                pools[pool].append(
                    Photo(
                        pool,
                        name,
                        path.relative_to(root).as_posix(),
                        path,
                        hashlib.sha256(data).hexdigest(),
                        (0, 0),
                    )
                )
            if not any(p.package == name for p in pools[pool]):
                raise SystemExit(f"{name}: no photo matched in {root}")
    return pools


def prepare(pools: dict[str, list[Photo]], log) -> dict[str, list[Photo]]:
    """Decode, drop unusable photos and duplicates, group eval scenes, keep train disjoint."""
    t0 = time.perf_counter()
    kept: dict[str, list[Photo]] = {}
    seen_sha: dict[str, Photo] = {}
    for pool in ("eval", "train"):  # eval first: a duplicate is dropped from train
        kept[pool] = []
        for ph in pools[pool]:
            if ph.sha256 in seen_sha:
                log(f"  duplicate file: {ph.label} = {seen_sha[ph.sha256].label}")
                continue
            turn = TURN.get((ph.package, ph.file), 0)
            img, native = load_rgb(ph.path, WORK_SIDE if pool == "eval" else TRAIN_SIDE, turn)
            ph.image, ph.native = img, native
            if min(native) < (256 if pool == "train" else 400) or img.std() < 5:
                log(f"  too small or blank: {ph.label} {native}")
                continue
            ph.dhash = dhash256(img)
            dup = next(
                (o for o in seen_sha.values() if (o.dhash != ph.dhash).sum() <= DHASH_SAME), None
            )
            if dup is not None:
                log(f"  duplicate pixels: {ph.label} ~ {dup.label}")
                continue
            seen_sha[ph.sha256] = ph
            small = resize_long(img, min(MATCH_SIDE, max(img.shape[:2])))
            ph.features = features(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), 500)
            kept[pool].append(ph)
    ev = kept["eval"]
    # same scene: union-find over eval pairs with enough RANSAC inliers
    parent = list(range(len(ev)))

    def find(i: int) -> int:
        return root(parent, i)

    usable = [i for i, p in enumerate(ev) if len(p.features[1]) >= 2]
    db = np.concatenate([ev[i].features[1] for i in usable])
    lens = np.array([len(ev[i].features[1]) for i in usable])

    def same_scene(ph: Photo) -> list[int]:
        xy, d = ph.features
        if len(d) < 4:
            return []
        hits = []
        for j, rows, cols in ratio_matches(d, db, lens):
            other = ev[usable[j]]
            if other is ph or len(rows) < SAME_SCENE_INLIERS:
                continue
            if ransac_inliers(xy[rows], other.features[0][cols]) >= SAME_SCENE_INLIERS:
                hits.append(usable[j])
        return hits

    # numbered shots of one scene in one package (``pool.jpg``, ``pool_2.jpg``) are one group
    # even when their geometry does not agree (people moved)
    by_stem: dict[tuple[str, str], int] = {}
    for i, ph in enumerate(ev):
        key = (ph.package, re.sub(r"_\d+$", "", Path(ph.file).stem))
        if key in by_stem:
            parent[find(i)] = find(by_stem[key])
        else:
            by_stem[key] = i
    for i, ph in enumerate(ev):
        for j in same_scene(ph):
            a, b = find(i), find(j)
            if a != b:
                log(f"  same scene (eval): {ph.label} ~ {ev[j].label}")
                parent[max(a, b)] = min(a, b)
    roots = sorted({find(i) for i in range(len(ev))})
    for i, ph in enumerate(ev):
        ph.group = roots.index(find(i))
    train = []
    for ph in kept["train"]:
        hits = same_scene(ph)
        if hits:
            log(f"  dropped from train, same scene as eval {ev[hits[0]].label}: {ph.label}")
            continue
        train.append(ph)
    kept["train"] = train
    log(
        f"prepared {len(ev)} eval photos in {len(roots)} scene groups and {len(train)} train "
        f"photos in {time.perf_counter() - t0:.0f} s"
    )
    return kept


# ----------------------------------------------------------------------------------------------
# objects


@dataclass
class CutOut:
    photo: Photo
    rect: tuple[int, int, int, int]  # x0, y0, x1, y1 in the photo's working copy
    shape: str
    rgb: np.ndarray
    mask: np.ndarray  # float32 0..1
    keypoints: int


def shape_mask(shape: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    if shape == "rect":
        m[:] = 255
    elif shape == "ellipse":
        cv2.ellipse(m, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 255, -1)
    else:  # star-shaped polygon touching the frame on each side
        k = int(rng.integers(6, 10))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = rng.uniform(0.65, 1.0, k)
        pts = np.stack([np.cos(ang) * rad, np.sin(ang) * rad], 1)
        pts = (pts - pts.min(0)) / np.maximum(pts.max(0) - pts.min(0), 1e-6)
        pts = pts * [w - 1, h - 1]
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 255)
    return cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 0.8)


def texture(rgb: np.ndarray, mask: np.ndarray) -> tuple[int, float, float]:
    """(SIFT keypoints inside the mask at 320 px, grey std, flat fraction) of a region."""
    g = cv2.cvtColor(resize_long(rgb, 320), cv2.COLOR_RGB2GRAY)
    m = cv2.resize(mask, (g.shape[1], g.shape[0])) > 0.5
    inner = cv2.erode(m.astype(np.uint8) * 255, np.ones((5, 5), np.uint8))
    n = len(sift(0).detect(g, inner))
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1)
    flat = float((np.hypot(gx, gy)[m] < 8).mean()) if m.any() else 1.0
    return n, float(g[m].std()) if m.any() else 0.0, flat


def cut_objects(
    ph: Photo, count: int, rng: np.random.Generator, min_kp: int, tries: int = 16
) -> list[CutOut]:
    img = ph.image
    h, w = img.shape[:2]
    out: list[CutOut] = []
    for _ in range(count):
        best = None
        for _ in range(tries):
            side = rng.uniform(0.22, 0.5) * min(h, w)
            if side < 200:
                side = min(200, 0.9 * min(h, w))
            aspect = math.exp(rng.uniform(math.log(0.6), math.log(1.67)))
            ow, oh = (side, side / aspect) if aspect >= 1 else (side * aspect, side)
            ow, oh = int(ow), int(oh)
            x0 = int(rng.integers(0, w - ow + 1))
            y0 = int(rng.integers(0, h - oh + 1))
            rect = (x0, y0, x0 + ow, y0 + oh)
            shape = str(rng.choice(["rect", "ellipse", "polygon"], p=[0.4, 0.3, 0.3]))
            mask = shape_mask(shape, ow, oh, rng)
            if any(_overlap(rect, o.rect, 0.05 * side) for o in out):
                continue
            rgb = img[y0 : y0 + oh, x0 : x0 + ow]
            n, std, flat = texture(rgb, mask)
            if n < min_kp or std < 18 or flat > 0.5:
                continue
            best = CutOut(ph, rect, shape, rgb.copy(), mask, n)
            break  # the first textured region, not the most textured (no bias towards SIFT)
        if best is None:
            break
        out.append(best)
    return out


def _overlap(a, b, margin: float) -> bool:
    apart_x = a[2] + margin <= b[0] or b[2] + margin <= a[0]
    apart_y = a[3] + margin <= b[1] or b[3] + margin <= a[1]
    return not (apart_x or apart_y)


# ----------------------------------------------------------------------------------------------
# views, pasting, labels


def view_of(ph: Photo, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A random crop of a photo, mirrored half the time, mild exposure change, resized to a
    long side of 640-1600 px (mode 1024), never enlarged more than 1.25x."""
    img = ph.image
    h, w = img.shape[:2]
    lo = min(1.0, max(0.35, 800 / max(w, h)))  # keep at least 800 px where the photo has them
    for _ in range(20):
        fx, fy = rng.uniform(lo, 1.0, 2)
        cw, ch = int(w * fx), int(h * fy)
        if 0.5 <= cw / ch <= 2.0:
            break
    else:
        cw, ch = w, h
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    crop = img[y0 : y0 + ch, x0 : x0 + cw]
    flip = bool(rng.random() < 0.5)
    if flip:
        crop = crop[:, ::-1]
    side = int(rng.triangular(640, 1024, 1600))
    side = max(640, min(side, int(1.25 * max(cw, ch))))
    v = resize_long(np.ascontiguousarray(crop), side).astype(np.float32)
    gain = rng.uniform(0.92, 1.08)
    gamma = rng.uniform(0.93, 1.07)
    v = np.clip(255.0 * (v / 255.0) ** gamma * gain, 0, 255)
    meta = {
        "crop": ph.native_box([x0, y0, x0 + cw, y0 + ch]),
        "flip": flip,
        "size": [v.shape[1], v.shape[0]],
    }
    return v, meta


def sample_params(target: str, rng: np.random.Generator) -> dict:
    u = rng.uniform

    def two_sided(lo: tuple[float, float], hi: tuple[float, float]) -> float:
        return u(*lo) if rng.random() < 0.5 else u(*hi)

    if target == "easy":
        p = {
            "r": u(0.30, 0.60),
            "theta": u(-20, 20),
            "persp": u(0, 0.06),
            "occlusion": 0.0 if rng.random() < 0.7 else u(0.05, 0.15),
            "blur": u(0, 0.8),
            "quality": int(u(70, 96)),
            "gain": u(0.85, 1.15),
            "gamma": u(0.9, 1.1),
            "saturation": u(0.85, 1.15),
        }
    else:  # "medium" ranges, then 1-3 factors pushed to the strong range for "hard"
        p = {
            "r": u(0.20, 0.50),
            "theta": u(-25, 25),
            "persp": u(0, 0.09),
            "occlusion": 0.0 if rng.random() < 0.5 else u(0.05, 0.2),
            "blur": u(0, 1.2),
            "quality": int(u(60, 96)),
            "gain": u(0.8, 1.25),
            "gamma": u(0.85, 1.2),
            "saturation": u(0.75, 1.3),
        }
    if target == "hard":
        factors = ["small", "rotation", "perspective", "occlusion", "blur", "colour", "jpeg"]
        k = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
        chosen = sorted(str(f) for f in rng.choice(factors, size=k, replace=False))
        for f in chosen:
            if f == "small":
                p["r"] = u(0.10, 0.19)
            elif f == "rotation":
                p["theta"] = u(32, 60) * rng.choice([-1, 1])
            elif f == "perspective":
                p["persp"] = u(0.14, 0.25)
            elif f == "occlusion":
                p["occlusion"] = u(0.28, 0.5)
            elif f == "blur":
                p["blur"] = u(1.7, 3.0)
            elif f == "colour":
                p["gain"] = two_sided((0.55, 0.72), (1.35, 1.6))
                p["gamma"] = two_sided((0.6, 0.72), (1.4, 1.7))
                p["saturation"] = two_sided((0.35, 0.55), (1.6, 1.9))
            else:
                p["quality"] = int(u(30, 48))
        p["hard_factors"] = chosen
    p["tint"] = [float(x) for x in u(0.95, 1.05, 3)]
    p["target"] = target
    p["tint"] = [round(t, 4) for t in p["tint"]]
    return {
        k: (round(float(v), 4) if isinstance(v, (float, np.floating)) else v) for k, v in p.items()
    }


def label_of(q: dict) -> str:
    """The easy / hard / junk rule of the module docstring, from realised values."""
    if q["visible"] < JUNK_VISIBLE or q["visible_side"] < JUNK_SIDE:
        return "junk"
    r = HARD_RULE
    hard = (
        q["r"] < r["r_min"]
        or abs(q["theta"]) > r["theta_max"]
        or q["persp"] > r["persp_max"]
        or q["visible"] < r["visible_min"]
        or q["blur"] > r["blur_max"]
        or q["quality"] < r["quality_min"]
        or not (r["gain"][0] <= q["gain"] <= r["gain"][1])
        or not (r["gamma"][0] <= q["gamma"] <= r["gamma"][1])
        or not (r["saturation"][0] <= q["saturation"] <= r["saturation"][1])
    )
    return "hard" if hard else "easy"


def photometric(rgb: np.ndarray, p: dict) -> np.ndarray:
    x = (rgb.astype(np.float32) / 255.0) ** p["gamma"] * p["gain"]
    x = x * np.asarray(p["tint"], np.float32)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + p["saturation"] * (x - grey)
    return np.clip(x * 255.0, 0, 255)


def paste(
    view: np.ndarray,
    obj: CutOut,
    p: dict,
    rng: np.random.Generator,
    occluder_src: np.ndarray | None,
) -> dict:
    """Paste ``obj`` into ``view`` (float32 RGB, in place) with parameters ``p``; returns the
    realised geometry and parameters."""
    H, W = view.shape[:2]
    L = max(W, H)
    oh, ow = obj.rgb.shape[:2]
    r = min(p["r"], 2.0 * max(ow, oh) / L)  # never enlarge more than 2x
    th = math.radians(p["theta"])
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    half = np.array([[-ow, -oh], [ow, -oh], [ow, oh], [-ow, oh]], np.float64) / 2 / max(ow, oh)
    jitter = rng.uniform(-1, 1, (4, 2)) * p["persp"]
    unit = (half + jitter) @ rot.T  # object of longer side 1, centred at 0
    ext = unit.max(0) - unit.min(0)
    fit = min(1.0, (W - 6) / (ext[0] * r * L), (H - 6) / (ext[1] * r * L))
    r *= fit
    quad = unit * r * L
    lo, hi = quad.min(0), quad.max(0)
    cx = rng.uniform(-lo[0] + 2, W - hi[0] - 2)
    cy = rng.uniform(-lo[1] + 2, H - hi[1] - 2)
    quad = quad + np.array([cx, cy])
    # resize the cut-out close to its final size first (no aliasing), then warp
    s = min(1.0, r * L / max(ow, oh) * 1.2)
    src_rgb = obj.rgb if s >= 1 else resize_long(obj.rgb, max(8, round(max(ow, oh) * s)))
    src_mask = cv2.resize(obj.mask, (src_rgb.shape[1], src_rgb.shape[0]), cv2.INTER_AREA)
    sh, sw = src_rgb.shape[:2]
    src = np.float32([[0, 0], [sw, 0], [sw, sh], [0, sh]])
    M = cv2.getPerspectiveTransform(src, quad.astype(np.float32))
    x0, y0 = np.floor(quad.min(0)).astype(int) - 8
    x1, y1 = np.ceil(quad.max(0)).astype(int) + 8
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    T = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ M
    size = (x1 - x0, y1 - y0)
    rgb = cv2.warpPerspective(photometric(src_rgb, p), T, size, flags=cv2.INTER_LINEAR)
    m = cv2.warpPerspective(src_mask, T, size, flags=cv2.INTER_LINEAR)
    if p["blur"] > 0.3:
        rgb = cv2.GaussianBlur(rgb, (0, 0), p["blur"])
        m = cv2.GaussianBlur(m, (0, 0), p["blur"])
    area = float(m.sum())
    ys, xs = np.nonzero(m > 0.5)
    if len(xs) == 0:  # cannot happen at r >= 0.1 of a 640 px photo; keep the frame
        ys, xs = np.nonzero(m >= m.max())
    bbox = [int(xs.min()) + x0, int(ys.min()) + y0, int(xs.max()) + x0 + 1, int(ys.max()) + y0 + 1]
    roi = view[y0:y1, x0:x1]
    roi *= 1 - m[..., None]
    roi += rgb * m[..., None]
    occ_meta = None
    visible = 1.0
    if p["occlusion"] > 0 and occluder_src is not None:
        occ_mask, occ_meta = _occluder(m, p["occlusion"], rng)
        ob = occ_meta["box"]
        oh_, ow_ = ob[3] - ob[1], ob[2] - ob[0]
        patch = _patch(occluder_src, ow_, oh_, rng)
        om = occ_mask[ob[1] : ob[3], ob[0] : ob[2]]
        full = np.zeros_like(m)
        full[ob[1] : ob[3], ob[0] : ob[2]] = om
        visible = float((m * (1 - full)).sum() / max(area, 1e-6))
        # the occluder may reach beyond the ROI: paste it in full-view coordinates
        gx0, gy0 = ob[0] + x0, ob[1] + y0
        region = view[gy0 : gy0 + oh_, gx0 : gx0 + ow_]
        region *= 1 - om[..., None]
        region += patch * om[..., None]
        occ_meta["box"] = [gx0, gy0, gx0 + ow_, gy0 + oh_]
        occ_meta["covered"] = round(1 - visible, 4)
    vis_side = math.sqrt(max(area * visible, 0.0))
    real = dict(p)
    real.update(
        r=round(r, 4),
        r_requested=round(p["r"], 4),
        persp=round(float(np.abs(jitter).max()), 4),
        visible=round(visible, 4),
        visible_side=round(vis_side, 1),
    )
    real["label"] = label_of(real)
    return {
        "quad": [[round(float(x), 2), round(float(y), 2)] for x, y in quad],
        "bbox": bbox,
        "params": real,
        "occluder": occ_meta,
    }


def _occluder(m: np.ndarray, target: float, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A rectangle or ellipse covering about ``target`` of mask ``m`` (ROI coordinates)."""
    h, w = m.shape
    area = m.sum()
    ys, xs = np.nonzero(m > 0.5)
    bx0, by0, bx1, by1 = xs.min(), ys.min(), xs.max(), ys.max()
    best = None
    for _ in range(24):
        side = math.sqrt(target * area) * rng.uniform(0.8, 1.6)
        asp = math.exp(rng.uniform(math.log(0.5), math.log(2)))
        ow, oh = max(4, int(side * math.sqrt(asp))), max(4, int(side / math.sqrt(asp)))
        ow, oh = min(ow, w), min(oh, h)
        cx = rng.uniform(bx0 - 0.15 * (bx1 - bx0), bx1 + 0.15 * (bx1 - bx0))
        cy = rng.uniform(by0 - 0.15 * (by1 - by0), by1 + 0.15 * (by1 - by0))
        x0 = int(np.clip(cx - ow / 2, 0, w - ow))
        y0 = int(np.clip(cy - oh / 2, 0, h - oh))
        shape = "ellipse" if rng.random() < 0.5 else "rect"
        om = np.zeros((h, w), np.float32)
        if shape == "rect":
            om[y0 : y0 + oh, x0 : x0 + ow] = 1
        else:
            cv2.ellipse(om, (x0 + ow // 2, y0 + oh // 2), (ow // 2, oh // 2), 0, 0, 360, 1, -1)
        om = cv2.GaussianBlur(om, (0, 0), 1.0)
        cover = float((m * om).sum() / area)
        if best is None or abs(cover - target) < abs(best[1] - target):
            best = (om, cover, shape, [x0, y0, x0 + ow, y0 + oh])
    om, cover, shape, box = best
    return om, {"shape": shape, "box": box, "target": round(target, 3)}


def _patch(src: np.ndarray, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    sh, sw = src.shape[:2]
    f = rng.uniform(0.6, 1.5)
    cw, ch = min(sw, max(2, int(w * f))), min(sh, max(2, int(h * f)))
    x0 = int(rng.integers(0, sw - cw + 1))
    y0 = int(rng.integers(0, sh - ch + 1))
    return cv2.resize(src[y0 : y0 + ch, x0 : x0 + cw], (w, h)).astype(np.float32)


def _plain(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8)).save(
        buf, "JPEG", quality=int(quality)
    )
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------
# the set


def objects_per_photo(ph: Photo) -> int:
    long = max(ph.native)
    return 3 if long >= 2000 else 2 if long >= 800 else 1


def build(args, ev: list[Photo], src_info: dict, log) -> dict:
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    jpg = out / "jpg"
    jpg.mkdir(parents=True, exist_ok=True)
    for old in jpg.glob("*.jpg"):
        old.unlink()

    groups: dict[int, list[Photo]] = {}
    for ph in ev:
        groups.setdefault(ph.group, []).append(ph)
    order = [int(g) for g in rng.permutation(sorted(groups))]

    # 1. objects, from photo groups taken in random order; a group that gives one is
    #    reserved for its queries
    objects: list[CutOut] = []
    source_groups: list[int] = []
    min_backgrounds = max(args.positives + 2, int(0.4 * len(groups)))
    for g in order:
        if len(objects) >= args.objects or len(groups) - len(source_groups) <= min_backgrounds:
            break
        ph = groups[g][0]
        got = cut_objects(ph, objects_per_photo(ph), rng, MIN_OBJECT_KEYPOINTS)
        got = got[: args.objects - len(objects)]
        if got:
            objects.extend(got)
            source_groups.append(g)
    if len(objects) < args.objects:
        log(f"WARNING: only {len(objects)} textured objects found (asked {args.objects})")
    bg_groups = [g for g in order if g not in source_groups]
    backgrounds = [ph for g in bg_groups for ph in groups[g]]
    log(
        f"objects: {len(objects)} from {len(source_groups)} photos; "
        f"{len(backgrounds)} background photos in {len(bg_groups)} groups"
    )

    # fillers for distractors: cut from background photos
    fillers: list[CutOut] = []
    for g in rng.permutation(bg_groups):
        if len(fillers) >= max(20, args.objects):
            break
        fillers.extend(cut_objects(groups[int(g)][0], 1, rng, MIN_OBJECT_KEYPOINTS // 2, tries=8))

    provenance: dict[str, dict] = {}
    boxes: dict[str, dict] = {}

    def src_ref(ph: Photo) -> dict:
        return {"package": ph.package, "file": ph.file, "sha256": ph.sha256}

    # 2. queries: the object's own photo, cropped around it
    qimlist, gnd = [], []
    for k, obj in enumerate(objects):
        img = obj.photo.image
        H, W = img.shape[:2]
        x0, y0, x1, y1 = obj.rect
        ow, oh = x1 - x0, y1 - y0
        f = rng.uniform(0.35, 0.75)
        cw = min(W, max(ow, int(max(ow, oh) / f * rng.uniform(0.8, 1.25))))
        ch = min(H, max(oh, int(max(ow, oh) / f * rng.uniform(0.8, 1.25))))
        cx0 = int(rng.integers(max(0, x1 - cw), min(x0, W - cw) + 1))
        cy0 = int(rng.integers(max(0, y1 - ch), min(y0, H - ch) + 1))
        crop = img[cy0 : cy0 + ch, cx0 : cx0 + cw]
        side = min(int(rng.uniform(800, 1400)), max(cw, ch))
        q = resize_long(crop, side)
        s = q.shape[1] / cw
        bbx = [(x0 - cx0) * s, (y0 - cy0) * s, (x1 - cx0) * s, (y1 - cy0) * s]
        bbx = [round(float(v), 2) for v in bbx]
        name = f"q_{k:03d}"
        (jpg / f"{name}.jpg").write_bytes(encode_jpeg(q.astype(np.float32), 92))
        qimlist.append(name)
        gnd.append({"bbx": bbx, "easy": [], "hard": [], "junk": []})
        provenance[name] = {
            "role": "query",
            "object": k,
            "source": src_ref(obj.photo),
            "crop": obj.photo.native_box([cx0, cy0, cx0 + cw, cy0 + ch]),
        }
        boxes[name] = {
            "object": k,
            "bbx": bbx,
            "shape": obj.shape,
            "object_rect_in_source": obj.photo.native_box(obj.rect),
            "keypoints": obj.keypoints,
        }

    # 3. database entries (planned first, then rendered in a shuffled order)
    usage = {g: 0 for g in bg_groups}

    def pick_groups(n: int) -> list[int]:
        cand = list(bg_groups)
        rng.shuffle(cand)
        cand.sort(key=lambda g: usage[g])
        chosen = cand[:n]
        for g in chosen:
            usage[g] += 1
        return chosen

    plan: list[dict] = []
    for k in range(len(objects)):
        targets = ["easy"] * (args.positives // 2) + ["hard"] * (
            args.positives - args.positives // 2
        )
        targets = [str(t) for t in rng.permutation(targets)]
        for g, t in zip(pick_groups(args.positives), targets, strict=True):
            plan.append({"object": k, "group": g, "target": t})
    for _ in range(args.distractors):
        g = pick_groups(1)[0]
        plan.append({"object": None, "group": g, "filler": bool(rng.random() < args.filler_rate)})
    order_db = rng.permutation(len(plan))
    imlist = [f"db_{i:05d}" for i in range(len(plan))]
    counts = {"easy": 0, "hard": 0, "junk": 0}
    sizes = []
    t0 = time.perf_counter()
    for i, pi in enumerate(order_db):
        item = plan[int(pi)]
        name = imlist[i]
        members = groups[item["group"]]
        ph = members[int(rng.integers(len(members)))]
        view, vmeta = view_of(ph, rng)
        others = [b for b in backgrounds if b.group != item["group"]]
        occ_src = others[int(rng.integers(len(others)))]
        entry: dict = {"object": item["object"], "size": vmeta["size"]}
        prov: dict = {"role": "distractor", "background": src_ref(ph), "view": vmeta}
        quality = int(rng.uniform(70, 96))
        if item["object"] is not None:
            k = item["object"]
            p = sample_params(item["target"], rng)
            res = paste(view, objects[k], p, rng, occ_src.image)
            lab = res["params"]["label"]
            gnd[k][lab].append(i)
            counts[lab] += 1
            entry.update(res)
            entry["label"] = lab
            quality = res["params"]["quality"]
            prov.update(role="positive", object=k, object_source=src_ref(objects[k].photo))
            if res["occluder"]:
                prov["occluder"] = src_ref(occ_src)
        elif item.get("filler"):
            cands = [f for f in fillers if f.photo.group != item["group"]]
            if cands:
                fo = cands[int(rng.integers(len(cands)))]
                p = sample_params("medium", rng)
                res = paste(view, fo, p, rng, occ_src.image)
                quality = res["params"]["quality"]
                entry["filler"] = {
                    **res,
                    "source": src_ref(fo.photo),
                    "rect": fo.photo.native_box(fo.rect),
                }
                prov["filler_source"] = src_ref(fo.photo)
                if res["occluder"]:
                    prov["occluder"] = src_ref(occ_src)
        entry["quality"] = quality
        (jpg / f"{name}.jpg").write_bytes(encode_jpeg(view, quality))
        boxes[name] = entry
        provenance[name] = prov
        sizes.append(max(vmeta["size"]))
        if (i + 1) % 200 == 0:
            log(f"  {i + 1}/{len(plan)} database photos ({time.perf_counter() - t0:.0f} s)")

    # objects cut from one photo show the same scene: each one's positives are junk for the
    # others (neither relevant nor wrong)
    for k, obj in enumerate(objects):
        for j, other in enumerate(objects):
            if j != k and other.photo is obj.photo:
                gnd[k]["junk"].extend(gnd[j]["easy"] + gnd[j]["hard"] + gnd[j]["junk"])
    for g in gnd:
        for key in ("easy", "hard", "junk"):
            g[key] = sorted(set(g[key]))
    with open(out / "gnd_photos.pkl", "wb") as f:
        pickle.dump({"imlist": imlist, "qimlist": qimlist, "gnd": gnd}, f, protocol=4)
    (out / "boxes.json").write_text(json.dumps(boxes, indent=1, default=_plain))
    pools = {pool: {n: src_info[n] for n in POOLS[pool]} for pool in POOLS}
    (out / "sources.json").write_text(
        json.dumps(
            {
                "seed": args.seed,
                "pools": pools,
                "eval_photos": [
                    {**src_ref(p), "native": list(p.native), "group": p.group} for p in ev
                ],
                "images": provenance,
            },
            indent=1,
        )
    )
    sizes_a = np.array(sizes)
    return {
        "queries": len(qimlist),
        "database": len(imlist),
        "positives": counts,
        "distractors": args.distractors,
        "fillers_pasted": sum(1 for e in boxes.values() if "filler" in e),
        "object_shapes": {
            s: sum(o.shape == s for o in objects) for s in ("rect", "ellipse", "polygon")
        },
        "object_sources": len(source_groups),
        "background_photos": len(backgrounds),
        "db_long_side": {
            "min": int(sizes_a.min()),
            "median": int(np.median(sizes_a)),
            "max": int(sizes_a.max()),
        },
    }


def write_train(photos: list[Photo], out: Path, src_info: dict, log) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.jpg"):
        old.unlink()
    images = {}
    for i, ph in enumerate(photos):
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(ph.file).stem)[:40]
        name = f"t_{i:04d}_{stem}"
        (out / f"{name}.jpg").write_bytes(encode_jpeg(ph.image.astype(np.float32), 92))
        images[name] = {"package": ph.package, "file": ph.file, "sha256": ph.sha256}
    pools = {n: v for n, v in src_info.items() if v["pool"] == "train"}
    (out / "sources.json").write_text(json.dumps({"packages": pools, "images": images}, indent=1))
    log(f"train pool: {len(photos)} photos in {out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="folder for the benchmark (jpg/, gnd_photos.pkl)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sources", default="build/photo-sources", help="fetch-photo-sources.sh DIR")
    ap.add_argument("--train-out", help="also write the train pool (codebook photos) here")
    ap.add_argument("--objects", type=int, default=50)
    ap.add_argument("--positives", type=int, default=6, help="database photos per object")
    ap.add_argument("--distractors", type=int, default=720)
    ap.add_argument("--filler-rate", type=float, default=0.5, help="distractors with a filler")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, flush=True)

    sources = Path(args.sources)
    src_info = list_sources(sources)
    pools = prepare(collect(sources), log)
    for pool in ("train", "eval"):
        per = {}
        for ph in pools[pool]:
            per[ph.package] = per.get(ph.package, 0) + 1
        listing = ", ".join(f"{k} {v}" for k, v in per.items())
        log(f"{pool} pool: {len(pools[pool])} photos: {listing}")
    for pool in POOLS:
        for n in POOLS[pool]:
            src_info[n]["photos"] = sum(p.package == n for p in pools[pool])
    if args.train_out:
        write_train(pools["train"], Path(args.train_out), src_info, log)
    summary = build(args, pools["eval"], src_info, log)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
