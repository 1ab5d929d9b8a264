"""Build the duplicates benchmark (issue 27) from real photographs.

    bash scripts/fetch-photo-sources.sh build/photo-sources
    (cd build && apt-get download gcompris-qt-data stellarium-data)
    python scripts/make_duplicates_benchmark.py --sources build/photo-sources \\
        --debs build/gcompris-qt-data_*.deb build/stellarium-data_*.deb \\
        --out build/dupbench --seed 0
    visual-search bench duplicates --manifest build/dupbench/manifest.json

Plain numpy, Pillow and OpenCV (plus the photo helpers of ``make_photo_benchmark.py``, and
PySide6's ``QResource`` to read GCompris's photo bundles); deterministic for a seed and the
same unpacked sources. About 3 minutes on two cores (and 4 to 15 to index it for the bench);
about 250 MB. Never commit the output.

Photos
------
Every JPEG, PNG and WebP file of the packages under ``--sources`` (one folder per package,
as ``fetch-photo-sources.sh`` unpacks them: lomiri-wallpapers, lxqt-themes, tuxpaint-data,
palapeli-data, scribus-template, kphotoalbum, libjxl-testdata, scikit-image, endless-sky-data,
opencv-doc) and, from the Debian archives given with ``--debs`` (unpacked here with
``dpkg -x``), the photographs in GCompris's activity bundles (monuments, animals, musicians,
words, erase, details, solar system) and Stellarium's telescope photographs of nebulae and its
landscape panoramas: every one at least 320 px on the short side and not blank. Files that
are already copies of one another are kept once (otherwise their copies would be labelled
different pictures): the same bytes, the same pixels (a 256-bit difference hash within 24
bits) or the same scene: 20 RANSAC inliers of a homography between one-to-one ratio matches
of SIFT features (300 at 400 px), looked for between each photo and its 16 nearest 16×16
thumbnails and between every two photos of one folder of a package (packages keep variants
of one picture side by side whose thumbnails differ: libjxl's crops of one flower photo,
KPhotoAlbum's screenshots of one viewer); photos joined by such pairs, transitively, keep the
first one found. The packages reserved for independent evaluation are refused by name. Each
photo is written at most 1,024 px on the long side.

What is a duplicate
-------------------
The same picture, possibly resized, recompressed, cropped (up to a fifth of its area),
rotated (the pixels by 90, 180 or 270 degrees, or stored sideways with an EXIF orientation),
colour-adjusted or watermarked (text and a translucent logo over at most a tenth of it).
Every picture and its copies form one *cluster*; every two members of a cluster are a true
pair, whatever their kinds.

Copies (``--copies`` of each kind, each of a photo drawn at random for that kind):
``resize`` (0.35-0.8 of the size, JPEG 85-95), ``recompress`` (the same size, JPEG 25-55),
``crop`` (one box keeping 0.80-0.95 of the area, JPEG 90), ``rotate`` (pixels by 90, 180 or
270 degrees), ``exif`` (pixels stored sideways or upside down with the EXIF orientation 6, 8
or 3 that turns them upright), ``colour`` (gamma, gain, saturation, a tint; a tenth made
grey), ``watermark`` (a line of text in a corner and a translucent logo, at most a tenth of
the area) and ``lowtex`` (a low-texture picture, below, resized 0.35-0.8).

Low-texture pictures: the photos with fewer than ``LOW_TEXTURE`` SIFT keypoints (nebulae,
fog, flat artwork), and pictures made from ``--donors`` textured photos used for nothing else
(each gives two, from its left and right halves, which do not overlap): a long motion blur, a
fog (a blur and a pale veil), or the smoothest region of the photo enlarged; a made picture
that comes out flat (one grey) is made again.

Not duplicates (negatives, each a labelled pair of different clusters):
``shared-background``: one photo with a different opaque object (cut from another photo,
0.20-0.40 of the area, placed where it stands out: ``visible``) pasted into each of three
copies of it; every two of these (and each with the plain photo) are different pictures. An
object for which 40 tries (of place and of photo to cut it from) find no place where it
stands out is left out (on a dark sky, a dark object is no change anyone sees: that picture
would be a copy); the same for a burst's subject.
``burst``: two frames of one scene a moment apart: a camera shift of 2-5 % with a slight turn
(up to 2 degrees) and a subject (an object cut from another photo, 0.10-0.20 of the area,
standing out) that moved by 15-35 % of the width; the frames, and each with the plain
photo, are different pictures (similar shots).
``lowtex-different``: two low-texture pictures of different photos (or halves), paired with
the nearest perceptual hash among them: what a hash alone confuses.

Output: ``OUT/photos/*.jpg`` and ``OUT/manifest.json``::

    {"seed", "sources": {package: {version, archive_sha256, photos}},
     "photos": [{"path", "cluster", "kind", "source"}],   # kind: original | lowtex | <copy
                                                          #  kind> | shared-background | burst
     "copies": [{"a", "b", "kind", "params"}],            # a: the picture, b: its copy
     "negatives": [{"a", "b", "kind"}]}

``path`` is relative to the manifest's folder.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_photo_benchmark as mpb

COPY_KINDS = (
    "resize",
    "recompress",
    "crop",
    "rotate",
    "exif",
    "colour",
    "watermark",
    "lowtex",
)
NEGATIVE_KINDS = ("shared-background", "burst", "lowtex-different")
#: Debian archive -> where its photos are: GCompris's activity bundles that hold photographs,
#: and Stellarium's telescope photographs of nebulae and its landscape panoramas
DEB_PHOTOS = {
    "gcompris-qt-data": (
        "erase",
        "explore_monuments",
        "explore_world_animals",
        "explore_farm_animals",
        "explore_world_music",
        "details",
        "lang",
        "solar_system",
    ),
    "stellarium-data": (
        "usr/share/stellarium/nebulae/default/*",
        "usr/share/stellarium/landscapes/*/*",
    ),
}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MIN_SIDE = 320
OUT_SIDE = 1024
DHASH_SAME = 24
SAME_SCENE_INLIERS = 20
THUMB_NEIGHBOURS = 16
#: a pasted object stands out: its own grey levels spread this much, and it differs from what
#: it covers by this much on average (of 255)
VISIBLE_STD = 20
VISIBLE_DIFFERENCE = 30
#: a photo with fewer SIFT keypoints than this at 400 px (OpenCV's defaults) is low-texture
LOW_TEXTURE = 80


@dataclass
class Source:
    package: str
    file: str
    data: bytes
    image: np.ndarray | None = None  # RGB, long side <= OUT_SIDE
    thumb: np.ndarray | None = None
    feats: tuple | None = None
    keypoints: int = 0  # SIFT keypoints at 400 px (OpenCV's defaults, at most 300)


@dataclass
class Picture:
    name: str
    image: np.ndarray
    cluster: int
    kind: str
    source: str
    exif: int = 0  # orientation tag to write
    quality: int = 92
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------ collecting


def package_info(root: Path) -> dict:
    return {
        "version": (root / ".version").read_text().strip()
        if (root / ".version").is_file()
        else None,
        "archive_sha256": (root / ".sha256").read_text().strip()
        if (root / ".sha256").is_file()
        else None,
    }


def _from_folder(root: Path, package: str, globs: tuple[str, ...]) -> list[Source]:
    files = sorted(
        {
            p
            for g in globs
            for p in root.glob(g)
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and p.name[0] != "."
        }
    )
    return [Source(package, p.relative_to(root).as_posix(), p.read_bytes()) for p in files]


def _from_rcc(root: Path, bundles: tuple[str, ...]) -> list[Source]:
    """The photos in GCompris's Qt resource bundles."""
    from PySide6.QtCore import QDirIterator, QFile, QIODevice, QResource

    out = []
    for name in bundles:
        bundle = str(root / "usr/share/gcompris-qt/rcc" / f"{name}.rcc")
        if not QResource.registerResource(bundle):
            raise SystemExit(f"cannot read {bundle}")
        it = QDirIterator(":/", QDirIterator.IteratorFlag.Subdirectories)
        while it.hasNext():
            p = it.next()
            f = QFile(p)
            if p.lower().endswith(IMAGE_SUFFIXES) and f.open(QIODevice.OpenModeFlag.ReadOnly):
                out.append(Source("gcompris-qt-data", p[2:], bytes(f.readAll().data())))
                f.close()
        QResource.unregisterResource(bundle)
    return out


def collect(sources: Path | None, debs: list[Path], log) -> tuple[list[Source], dict]:
    """Every image file of the packages: unpacked ones under ``sources``, and the photos of
    each Debian archive in ``debs`` (unpacked here with ``dpkg -x``)."""
    found: list[Source] = []
    info: dict = {}
    if sources is not None:
        for root in sorted(p for p in sources.iterdir() if p.is_dir() and p.name[0] != "."):
            if mpb.reserved(root.name):
                raise SystemExit(f"{root.name}: reserved for independent evaluation, never used")
            info[root.name] = package_info(root)
            found += _from_folder(root, root.name, ("**/*",))
    for deb in debs:
        package, version = deb.name.split("_")[:2]
        if mpb.reserved(package):
            raise SystemExit(f"{package}: reserved for independent evaluation, never used")
        if package not in DEB_PHOTOS:
            raise SystemExit(f"{deb}: which of its files are photos is not known here")
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["dpkg", "-x", str(deb), tmp], check=True)
            what = DEB_PHOTOS[package]
            if package == "gcompris-qt-data":
                found += _from_rcc(Path(tmp), what)
            else:
                found += _from_folder(Path(tmp), package, what)
        info[package] = {
            "version": unquote(version),
            "archive_sha256": hashlib.sha256(deb.read_bytes()).hexdigest(),
        }
    log(f"{len(found)} image files in {len(info)} packages")
    return found, info


def decode(src: Source) -> np.ndarray | None:
    try:
        with Image.open(io.BytesIO(src.data)) as im:
            im = mpb.upright_rgb(im)
            if min(im.size) < MIN_SIDE:
                return None
            f = OUT_SIDE / max(im.size)
            if f < 1:
                im = im.resize((round(im.size[0] * f), round(im.size[1] * f)), Image.LANCZOS)
            return np.asarray(im).copy()
    except Exception:
        return None


def thumb(img: np.ndarray) -> np.ndarray:
    g = cv2.resize(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), (16, 16), interpolation=cv2.INTER_AREA)
    v = g.astype(np.float32).reshape(-1)
    v -= v.mean()
    return v / (np.linalg.norm(v) + 1e-6)


def same_scene(a: Source, b: Source) -> bool:
    """``SAME_SCENE_INLIERS`` RANSAC inliers of a homography between one-to-one ratio matches
    of the two photos' SIFT features (a feature of ``b`` keeps only its closest match of
    ``a``: many-to-one matches let RANSAC fit a homography that folds everything onto one
    point, which made star fields of different nebulae "the same scene")."""
    (pa, da), (pb, db) = a.feats, b.feats
    if len(da) < 8 or len(db) < 8:
        return False
    best: dict[int, cv2.DMatch] = {}
    for m in cv2.BFMatcher(cv2.NORM_L2).knnMatch(da, db, k=2):
        if len(m) == 2 and m[0].distance < 0.8 * m[1].distance:
            t = m[0].trainIdx
            if t not in best or m[0].distance < best[t].distance:
                best[t] = m[0]
    if len(best) < SAME_SCENE_INLIERS:
        return False
    good = sorted(best.values(), key=lambda m: m.queryIdx)
    p = pa[[m.queryIdx for m in good]]
    q = pb[[m.trainIdx for m in good]]
    return mpb.ransac_inliers(p, q) >= SAME_SCENE_INLIERS


def scene_candidates(kept: list[Source]) -> list[tuple[int, int]]:
    """The pairs ``same_scene`` looks at: each photo with its ``THUMB_NEIGHBOURS`` nearest
    16×16 thumbnails (either way round), and every two photos of one folder of a package
    (where packages keep variants of one picture whose thumbnails differ: test crops of one
    photo, screenshots of one window)."""
    thumbs = np.array([s.thumb for s in kept])
    sims = thumbs @ thumbs.T
    np.fill_diagonal(sims, -np.inf)
    pairs: set[tuple[int, int]] = set()
    for i in range(len(kept)):
        for j in np.argsort(-sims[i], kind="stable")[:THUMB_NEIGHBOURS]:
            pairs.add((min(i, int(j)), max(i, int(j))))
    folders: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, s in enumerate(kept):
        folders[(s.package, s.file.rpartition("/")[0])].append(i)
    for members in folders.values():
        pairs.update((a, b) for k, a in enumerate(members) for b in members[k + 1 :])
    return sorted(pairs)


def distinct(found: list[Source], log) -> list[Source]:
    """Decoded, usable photos, one per picture and scene: photos that are the same scene
    (``same_scene``, on the pairs of ``scene_candidates``) form groups, joined transitively,
    and each group keeps its first photo (in the order found)."""
    t0 = time.perf_counter()
    seen: set[str] = set()
    kept: list[Source] = []
    hashes: list[np.ndarray] = []
    for s in found:
        digest = hashlib.sha256(s.data).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        img = decode(s)
        if img is None or img.std() < 8:
            continue
        dh = mpb.dhash256(img)
        if hashes and (np.array(hashes) != dh).sum(axis=1).min() <= DHASH_SAME:
            continue
        s.image, s.thumb = img, thumb(img)
        s.data = b""
        gray = cv2.cvtColor(mpb.resize_long(img, 400), cv2.COLOR_RGB2GRAY)
        s.feats = mpb.features(gray, 300)
        s.keypoints = len(s.feats[1])
        hashes.append(dh)
        kept.append(s)
    parent = list(range(len(kept)))

    def root(i: int) -> int:
        return mpb.root(parent, i)

    candidates = scene_candidates(kept)
    for i, j in candidates:
        ri, rj = root(i), root(j)
        if ri != rj and same_scene(kept[i], kept[j]):
            parent[max(ri, rj)] = min(ri, rj)
    out = [s for i, s in enumerate(kept) if root(i) == i]
    for s in kept:
        s.feats = None
    log(
        f"{len(out)} distinct photos ({len(kept) - len(out)} same-scene left out, "
        f"{len(candidates)} pairs compared) in {time.perf_counter() - t0:.0f} s"
    )
    return out


# ------------------------------------------------------------------------------ edits


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(mpb.encode_jpeg(img, quality), np.uint8), cv2.IMREAD_COLOR)[
        ..., ::-1
    ].copy()


def scaled(img: np.ndarray, f: float) -> np.ndarray:
    h, w = img.shape[:2]
    size = (max(8, round(w * f)), max(8, round(h * f)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def crop_copy(img: np.ndarray, rng) -> tuple[np.ndarray, dict]:
    h, w = img.shape[:2]
    area = rng.uniform(0.80, 0.95)
    fx = rng.uniform(max(area, 0.8), 1.0)
    fy = area / fx
    cw, ch = round(w * fx), round(h * fy)
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    return img[y0 : y0 + ch, x0 : x0 + cw].copy(), {"box": [x0, y0, x0 + cw, y0 + ch]}


def colour_copy(img: np.ndarray, rng) -> tuple[np.ndarray, dict]:
    x = img.astype(np.float32) / 255
    if rng.random() < 0.1:
        g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
        return (np.repeat(g[..., None], 3, 2) * 255).astype(np.uint8), {"grey": True}
    gamma = float(rng.uniform(0.65, 1.5))
    gain = float(rng.uniform(0.75, 1.25))
    sat = float(rng.uniform(0.4, 1.6))
    tint = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    x = np.clip(x, 0, 1) ** gamma * gain * tint
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * sat
    out = (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    return out, {"gamma": gamma, "gain": gain, "saturation": sat, "tint": tint.tolist()}


def watermark_copy(img: np.ndarray, rng) -> tuple[np.ndarray, dict]:
    out = img.copy()
    h, w = img.shape[:2]
    text = rng.choice(["(c) Photo Studio", "SAMPLE", "my holiday 2019", "www.example.org"])
    scale = w / 900 * rng.uniform(0.8, 1.4)
    thick = max(1, round(2 * scale))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    corner = int(rng.integers(4))
    x = 10 if corner % 2 == 0 else max(10, w - tw - 10)
    y = th + 10 if corner < 2 else h - 10
    colour = (255, 255, 255) if rng.random() < 0.5 else (20, 20, 20)
    cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
    # a translucent round logo
    r = int(min(w, h) * rng.uniform(0.08, 0.15))
    cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, h - r))
    logo = out.copy()
    cv2.circle(logo, (cx, cy), r, (255, 255, 255), -1)
    cv2.circle(logo, (cx, cy), int(r * 0.6), (200, 30, 30), -1)
    alpha = float(rng.uniform(0.25, 0.45))
    out = cv2.addWeighted(logo, alpha, out, 1 - alpha, 0)
    return out, {"text": str(text), "logo_radius": r, "logo_alpha": alpha}


def lowtex_picture(img: np.ndarray, rng) -> tuple[np.ndarray, str]:
    h, w = img.shape[:2]
    how = str(rng.choice(["motion", "fog", "smooth"]))
    if how == "motion":
        n = int(rng.integers(35, 70))
        k = np.zeros((n, n), np.float32)
        k[n // 2, :] = 1
        rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), float(rng.uniform(0, 180)), 1)
        k = cv2.warpAffine(k, rot, (n, n))
        out = cv2.filter2D(img, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)
    elif how == "fog":
        veil = np.array(rng.uniform(180, 240, 3), np.float32)
        a = float(rng.uniform(0.45, 0.7))
        blur = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(6, 12))).astype(np.float32)
        out = (blur * (1 - a) + veil * a).astype(np.uint8)
    else:  # the smoothest window of the photo, enlarged
        g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
        grad = np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(g, cv2.CV_32F, 0, 1))
        ww, wh = w // 2, h // 2
        integ = cv2.integral(grad)
        best, pos = None, (0, 0)
        for y in range(0, h - wh + 1, max(1, h // 16)):
            for x in range(0, w - ww + 1, max(1, w // 16)):
                s = integ[y + wh, x + ww] - integ[y, x + ww] - integ[y + wh, x] + integ[y, x]
                if best is None or s < best:
                    best, pos = s, (x, y)
        x, y = pos
        out = cv2.resize(img[y : y + wh, x : x + ww], (w, h), interpolation=cv2.INTER_CUBIC)
        out = cv2.GaussianBlur(out, (0, 0), 2.0)
    return out, how


def cut_object(img: np.ndarray, rng, area: float, frame: tuple[int, int]):
    """An object (a textured ellipse or rectangle, RGB and alpha mask) cut from ``img``,
    sized to ``area`` of a ``frame`` (w, h)."""
    fw, fh = frame
    aspect = rng.uniform(0.6, 1.6)
    ow = int(np.sqrt(area * fw * fh * aspect))
    oh = int(area * fw * fh / max(ow, 1))
    ow, oh = min(ow, fw - 4), min(oh, fh - 4)
    h, w = img.shape[:2]
    f = max(ow / w, oh / h) * rng.uniform(1.0, 1.6)
    src = cv2.resize(img, (max(ow, round(w * f)), max(oh, round(h * f))))
    y0 = int(rng.integers(0, src.shape[0] - oh + 1))
    x0 = int(rng.integers(0, src.shape[1] - ow + 1))
    obj = src[y0 : y0 + oh, x0 : x0 + ow]
    mask = np.zeros((oh, ow), np.float32)
    if rng.random() < 0.5:
        cv2.ellipse(mask, (ow // 2, oh // 2), (ow // 2 - 1, oh // 2 - 1), 0, 0, 360, 1.0, -1)
        # an ellipse fills pi/4 of its box: enlarge to keep the area
    else:
        mask[:] = 1.0
    mask = cv2.GaussianBlur(mask, (5, 5), 0)
    return obj, mask


def paste(bg: np.ndarray, obj: np.ndarray, mask: np.ndarray, x: int, y: int) -> np.ndarray:
    out = bg.astype(np.float32).copy()
    oh, ow = mask.shape
    m = mask[..., None]
    out[y : y + oh, x : x + ow] = obj * m + out[y : y + oh, x : x + ow] * (1 - m)
    return out.astype(np.uint8)


def visible(bg: np.ndarray, obj: np.ndarray, mask: np.ndarray, x: int, y: int) -> bool:
    """Whether the object stands out where it is pasted: it has texture of its own and
    differs from what it covers (a dark patch on a dark sky is no change anyone sees)."""
    oh, ow = mask.shape
    g_obj = cv2.cvtColor(obj, cv2.COLOR_RGB2GRAY).astype(np.float32)
    g_bg = cv2.cvtColor(bg[y : y + oh, x : x + ow], cv2.COLOR_RGB2GRAY).astype(np.float32)
    inside = mask > 0.5
    return bool(
        g_obj[inside].std() >= VISIBLE_STD
        and np.abs(g_obj - g_bg)[inside].mean() >= VISIBLE_DIFFERENCE
    )


def camera_shift(img: np.ndarray, rng) -> tuple[np.ndarray, dict]:
    """The scene a moment later from a camera that moved slightly."""
    h, w = img.shape[:2]
    shift = rng.uniform(0.02, 0.05) * w * rng.choice([-1, 1])
    dy = rng.uniform(-0.02, 0.02) * h
    angle = float(rng.uniform(-2, 2))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.06)
    m[0, 2] += shift
    m[1, 2] += dy
    out = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    return out, {"shift": float(shift), "angle": angle}


# ------------------------------------------------------------------------------ the set


class SetBuilder:
    """The pictures, their copies and the labelled negatives, made in order from one seed."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.pics: list[Picture] = []
        self.copies: list[dict] = []
        self.negatives: list[dict] = []
        self.clusters = 0
        self.invisible = 0  # objects left out: no place where they stand out

    def add(self, img, kind: str, source: str, cluster: int | None = None, **kw) -> Picture:
        """A picture; a new cluster unless ``cluster`` (a copy's) is given."""
        if cluster is None:
            cluster, self.clusters = self.clusters, self.clusters + 1
        p = Picture(f"{len(self.pics):05d}_{kind}.jpg", img, cluster, kind, source, **kw)
        self.pics.append(p)
        return p

    def negative(self, a: Picture, b: Picture, kind: str) -> None:
        self.negatives.append({"a": a.name, "b": b.name, "kind": kind})

    def low_texture(self, donors: list[Source]) -> list[Picture]:
        """Two low-texture pictures from each donor (its left and right halves)."""
        out = []
        for s in donors:
            w = s.image.shape[1]
            for half in (s.image[:, : w // 2], s.image[:, w // 2 :]):
                for _ in range(5):  # a flat picture (one grey) is no picture: try again
                    img, how = lowtex_picture(np.ascontiguousarray(half), self.rng)
                    if img.std() >= 10:
                        break
                source = f"{s.package}:{s.file}"
                out.append(self.add(img, "low-texture", source, extra={"how": how}))
        return out

    def copy_of(self, src: Picture, kind: str) -> None:
        rng, img, params, exif, quality = self.rng, src.image, {}, 0, 92
        if kind in ("resize", "lowtex"):
            f = float(rng.uniform(0.35, 0.8))
            img, quality, params = scaled(img, f), int(rng.integers(85, 96)), {"scale": f}
        elif kind == "recompress":
            quality = int(rng.integers(25, 56))
            params = {"quality": quality}
        elif kind == "crop":
            img, params = crop_copy(img, rng)
            quality = 90
        elif kind == "rotate":
            turns = int(rng.integers(1, 4))
            img, params = np.ascontiguousarray(np.rot90(img, -turns)), {"degrees": 90 * turns}
        elif kind == "exif":
            exif = int(rng.choice([6, 8, 3]))
            # stored pixels that the orientation tag turns upright
            turns = {6: 1, 8: 3, 3: 2}[exif]  # counter-clockwise quarter turns of the storage
            img, params = np.ascontiguousarray(np.rot90(img, turns)), {"orientation": exif}
        elif kind == "colour":
            img, params = colour_copy(img, rng)
        elif kind == "watermark":
            img, params = watermark_copy(img, rng)
        c = self.add(img, kind, src.source, src.cluster, exif=exif, quality=quality)
        self.copies.append({"a": src.name, "b": c.name, "kind": kind, "params": params})

    def placed(self, base: list[Picture], scene: np.ndarray, objs: list[int], area: float):
        """An object cut from one of the ``objs`` photos (used up) and a place for it in
        ``scene`` where it stands out (``visible``); None when 40 tries find none."""
        rng = self.rng
        h, w = scene.shape[:2]
        for _ in range(40):
            obj, mask = cut_object(base[objs[-1]].image, rng, area, (w, h))
            oh, ow = mask.shape
            x = int(rng.integers(0, w - ow + 1))
            y = int(rng.integers(0, h - oh + 1))
            if visible(scene, obj, mask, x, y):
                objs.pop()
                return obj, mask, x, y
            objs.insert(0, objs.pop())  # try another photo's object
        # nothing stands out here (a dark sky takes no dark object): an object no one can see
        # would make a copy of the photo, not another picture; the caller leaves it out
        self.invisible += 1
        return None

    def shared_backgrounds(self, base: list[Picture], bgs, objs: list[int]) -> None:
        """Three objects, each in its own copy of one photo: every two of the four differ."""
        for b in bgs:
            bg = base[int(b)]
            made = [bg]
            for _ in range(3):
                area = self.rng.uniform(0.2, 0.4)
                got = self.placed(base, bg.image, objs, area)
                if got is None:
                    continue
                obj, mask, x, y = got
                img = paste(bg.image, obj, mask, x, y)
                made.append(self.add(img, "shared-background", bg.source))
            for i in range(len(made)):
                for j in range(i + 1, len(made)):
                    self.negative(made[i], made[j], "shared-background")

    def bursts(self, base: list[Picture], scenes, objs: list[int]) -> None:
        """Two frames of a scene: a subject moved while the camera shifted a little."""
        rng = self.rng
        for b in scenes:
            scene = base[int(b)]
            w = scene.image.shape[1]
            got = self.placed(base, scene.image, objs, rng.uniform(0.1, 0.2))
            if got is None:
                continue
            obj, mask, x, y = got
            ow = mask.shape[1]
            move = rng.uniform(0.15, 0.35) * w * rng.choice([-1, 1])
            x2 = int(np.clip(x + move, 0, w - ow))
            if abs(x2 - x) < 0.1 * w:
                x2 = int(np.clip(x - move, 0, w - ow))
            frames = []
            for xx in (x, x2):
                img, params = camera_shift(paste(scene.image, obj, mask, xx, y), rng)
                frames.append(self.add(img, "burst", scene.source, extra=params))
            self.negative(frames[0], frames[1], "burst")
            for f in frames:
                self.negative(scene, f, "burst")

    def lowtex_negatives(self, low: list[Picture], count: int) -> None:
        """Low-texture pictures of different clusters with the nearest perceptual hashes."""
        from engine.match.describe import hamming64, phash

        hashes = [phash(cv2.cvtColor(p.image, cv2.COLOR_RGB2GRAY)) for p in low]
        pairs = sorted(
            (hamming64(hashes[i], hashes[j]), i, j)
            for i in range(len(low))
            for j in range(i + 1, len(low))
        )
        used: dict[int, int] = defaultdict(int)
        made = 0
        for _, i, j in pairs:
            if made >= count:
                break
            if used[i] >= 2 or used[j] >= 2:
                continue
            used[i] += 1
            used[j] += 1
            made += 1
            self.negative(low[i], low[j], "lowtex-different")


def build(photos: list[Source], args, log) -> SetBuilder:
    sb = SetBuilder(args.seed)
    rng = sb.rng
    order = [int(i) for i in rng.permutation(len(photos))]
    # donors of the made low-texture pictures: textured photos, used for nothing else
    donors = [photos[i] for i in order if photos[i].keypoints >= LOW_TEXTURE][: args.donors]
    taken = {id(s) for s in donors}
    originals = [photos[i] for i in order if id(photos[i]) not in taken]
    base = [sb.add(s.image, "original", f"{s.package}:{s.file}") for s in originals]
    # the low-texture pictures: real photos with few keypoints, and the made ones
    low = [p for p, s in zip(base, originals, strict=True) if s.keypoints < LOW_TEXTURE]
    log(f"{len(base)} photos, {len(low)} of them low-texture; {len(donors)} donors")
    low += sb.low_texture(donors)
    for kind in COPY_KINDS:
        pool = low if kind == "lowtex" else base
        for i in rng.choice(len(pool), min(args.copies, len(pool)), replace=False):
            sb.copy_of(pool[int(i)], kind)
    n_bg = (args.negatives + 5) // 6 + 5  # six pairs per background
    n_burst = args.negatives // 3 + 5  # three pairs per burst
    picks = [int(i) for i in rng.choice(len(base), n_bg * 4 + n_burst * 2, replace=False)]
    bgs, scenes, objs = picks[:n_bg], picks[n_bg : n_bg + n_burst], picks[n_bg + n_burst :]
    sb.shared_backgrounds(base, bgs, objs)
    sb.bursts(base, scenes, objs)
    if sb.invisible:
        log(f"{sb.invisible} pasted objects left out: no place in their photo where they show")
    sb.lowtex_negatives(low, args.negatives)
    return sb


def write(pics: list[Picture], out: Path) -> None:
    (out / "photos").mkdir(parents=True, exist_ok=True)
    for p in pics:
        im = Image.fromarray(p.image)
        kw = {"quality": p.quality}
        if p.exif:
            exif = Image.Exif()
            exif[0x0112] = p.exif
            kw["exif"] = exif.tobytes()
        im.save(out / "photos" / p.name, "JPEG", **kw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=Path, help="fetch-photo-sources.sh's folder")
    ap.add_argument(
        "--debs", type=Path, nargs="*", default=[], help="gcompris-qt-data, stellarium-data .deb"
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--copies", type=int, default=210, help="copies of each kind")
    ap.add_argument("--negatives", type=int, default=210, help="pairs of each negative kind")
    ap.add_argument(
        "--donors", type=int, default=60, help="photos made into two low-texture pictures each"
    )
    ap.add_argument("--limit", type=int, default=None, help="first N photos (a quick set)")
    args = ap.parse_args(argv)
    if args.sources is None and not args.debs:
        ap.error("give --sources DIR and/or --debs FILE...")

    def log(s: str) -> None:
        print(s, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    found, info = collect(args.sources, args.debs, log)
    photos = distinct(found[: args.limit] if args.limit else found, log)
    sb = build(photos, args, log)
    pics, copies, negatives = sb.pics, sb.copies, sb.negatives
    write(pics, args.out)
    for name in info:
        info[name]["photos"] = sum(
            1 for p in pics if p.kind == "original" and p.source.startswith(name + ":")
        )
    manifest = {
        "seed": args.seed,
        "sources": info,
        "photos": [
            {
                "path": f"photos/{p.name}",
                "cluster": p.cluster,
                "kind": p.kind,
                "source": p.source,
                **({"extra": p.extra} if p.extra else {}),
            }
            for p in pics
        ],
        "copies": [{**c, "a": f"photos/{c['a']}", "b": f"photos/{c['b']}"} for c in copies],
        "negatives": [{**n, "a": f"photos/{n['a']}", "b": f"photos/{n['b']}"} for n in negatives],
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    kinds = {}
    for p in pics:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    log(
        f"wrote {len(pics)} pictures ({kinds}), {len(copies)} copies, "
        f"{len(negatives)} negative pairs to {args.out} in {time.perf_counter() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
