"""Build the click-to-localize benchmark (issue 23) from real photographs, in two splits.

    bash scripts/fetch-localize-sources.sh build/localize-sources
    python scripts/make_localize_benchmark.py --sources build/localize-sources \\
        --out build/locbench --seed 0            (both splits; --split tune|test for one)

Plain numpy, Pillow and OpenCV (plus the photo helpers of ``make_photo_benchmark.py``);
deterministic for a seed and the same unpacked sources. About 1 minute per split on two
cores; a split is 30-40 MB (12 queries, 240 positives, 48 negatives at the defaults). Never
commit the output.

Splits (disjoint by source package)
-----------------------------------
* ``tune``: photographs of ``gcompris-qt-data`` (animals, monuments, musicians, sea life),
  for choosing a localizer's thresholds.
* ``test``: the real-photo retrieval benchmark's eval pool (``make_photo_benchmark.POOLS
  ["eval"]``: lomiri, lxqt, tuxpaint, palapeli, scribus, kphotoalbum, libjxl, scikit-image
  photos), which no part of the product was trained or tuned on. Held out: only for the
  final figures of a method whose parameters were chosen on ``tune``.

Within a split, photos that share a scene (RANSAC between their RootSIFT features, or
numbered shots of one package) form a *group* (``make_photo_benchmark.prepare``). Every
group has one role: the source of one query object, the background of one query photo, or
a background for positives and negatives.

Cases
-----
*Object*: a textured cut-out (rectangle, ellipse or star polygon mask) of a source photo
(``make_photo_benchmark.cut_objects``).

*Query*: the object pasted, near-frontal (scale 0.30-0.50 of the long side, rotation up to
8 degrees, perspective up to 0.03, mild colour), into a view of its own query-background
photo, JPEG quality 92. ``box`` = the tight box of the pasted mask, ``polygon`` = the mask's
outline, ``point`` = the click: the box centre (moved to the mask's innermost pixel in the
rare case the centre falls outside the mask).

*Positives* (``--positives`` per object, each in a different background group): the object
pasted into a view of a real photo (random crop, long side 640-1,600 px), half with the
*mild* ranges (scale ``r`` 0.30-0.60 of the photo's long side, rotation +-20 degrees,
perspective <= 0.06, occlusion <= 15 %, blur <= 0.8 px, JPEG 70-95, colour +-15 %) and half
with *middle* ranges (``r`` 0.15-0.45, rotation +-40, perspective <= 0.12, occlusion
<= 30 %, blur <= 1.5 px, JPEG 50-95, gain 0.70-1.35, gamma 0.75-1.30, saturation
0.60-1.50). ``box`` = the tight box of the whole pasted mask (occluded parts included),
``polygon`` = the mask outline, ``visible`` = the unoccluded fraction.

*Negatives* (shared by the split's queries): ``--negatives`` views of background photos,
half of them with a *filler* object (cut from a background photo) pasted with the middle
ranges, so that a pasted object alone does not mark a positive. Each query's negative list
is these plus ``--cross`` positives of every other query object.

Output: ``OUT/<split>/*.jpg`` and ``OUT/<split>/manifest.json``::

    {"split", "seed", "sources": {package: {version, archive_sha256}},
     "queries": [{"id", "path", "size": [W, H], "box": [x0, y0, x1, y1], "point": [x, y],
                  "polygon": [[x, y], ...], "object": {source photo, shape, rect},
                  "positives": [{"path", "size", "box", "polygon", "visible", "kind",
                                 "params"}],
                  "negatives": [{"path", "kind": "plain" | "filler" | "other-object"}]}]}

Paths are relative to the manifest's folder; coordinates are pixels of the written JPEG.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the retrieval benchmark's photo helpers (decoding, scene groups, cut-outs, pasting)
import make_photo_benchmark as mpb

# split -> source package -> (include globs, exclude name patterns)
SPLITS: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "tune": {
        # unpacked by activity from its Qt resource bundles (fetch-localize-sources.sh)
        "gcompris-qt-data": (
            (
                "erase/resource/*.webp",
                "explore_monuments/resource/*/*.webp",
                "explore_world_animals/resource/animals/*.webp",
                "explore_farm_animals/resource/animals/*.webp",
                "explore_world_music/resource/music/*.webp",
                "clickgame/resource/sea*.webp",
            ),
            (),
        ),
    },
    "test": dict(mpb.POOLS["eval"]),
}
WORK_SIDE = 1600  # photos are held at most this size (long side)
QUERY_QUALITY = 92


def log(msg: str) -> None:
    print(msg, flush=True)


def collect(sources: Path, split: str) -> tuple[list[mpb.Photo], dict]:
    photos, info = [], {}
    for name, (globs, excludes) in SPLITS[split].items():
        if mpb.reserved(name):
            raise SystemExit(f"{name}: reserved for independent evaluation, never used")
        root = sources / name
        if not (root / ".version").is_file():
            raise SystemExit(f"{root}: missing; run scripts/fetch-localize-sources.sh {sources}")
        info[name] = {
            "version": (root / ".version").read_text().strip(),
            "archive_sha256": (root / ".sha256").read_text().strip()
            if (root / ".sha256").is_file()
            else None,
        }
        files: set[Path] = set()
        for g in globs:
            files.update(p for p in root.glob(g) if p.is_file())
        for path in sorted(files):
            if any(fnmatch.fnmatch(path.name, e) for e in excludes):
                continue
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            photos.append(
                mpb.Photo("eval", name, path.relative_to(root).as_posix(), path, sha, (0, 0))
            )
    return photos, info


def sample_params(kind: str, rng: np.random.Generator) -> dict:
    u = rng.uniform
    if kind == "query":
        p = dict(
            r=u(0.30, 0.50),
            theta=u(-8, 8),
            persp=u(0, 0.03),
            occlusion=0.0,
            blur=0.0,
            quality=QUERY_QUALITY,
            gain=u(0.95, 1.05),
            gamma=u(0.95, 1.05),
            saturation=u(0.95, 1.05),
            tint=list(u(0.98, 1.02, 3)),
        )
    elif kind == "mild":
        p = dict(
            r=u(0.30, 0.60),
            theta=u(-20, 20),
            persp=u(0, 0.06),
            occlusion=0.0 if rng.random() < 0.7 else u(0.05, 0.15),
            blur=u(0, 0.8),
            quality=int(u(70, 96)),
            gain=u(0.85, 1.15),
            gamma=u(0.87, 1.15),
            saturation=u(0.85, 1.15),
            tint=list(u(0.95, 1.05, 3)),
        )
    else:  # middle
        p = dict(
            r=u(0.15, 0.45),
            theta=u(-40, 40),
            persp=u(0, 0.12),
            occlusion=0.0 if rng.random() < 0.5 else u(0.10, 0.30),
            blur=u(0, 1.5),
            quality=int(u(50, 96)),
            gain=u(0.70, 1.35),
            gamma=u(0.75, 1.30),
            saturation=u(0.60, 1.50),
            tint=list(u(0.95, 1.05, 3)),
        )
    p["target"] = kind
    return {
        k: (round(float(v), 4) if isinstance(v, (float, np.floating)) else v) for k, v in p.items()
    } | {"tint": [round(float(t), 4) for t in p["tint"]]}


def mask_outline(obj: mpb.CutOut) -> np.ndarray:
    """The cut-out's mask outline ``(n, 2)`` in cut-out pixels."""
    m = (obj.mask > 0.5).astype(np.uint8)
    cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    c = max(cs, key=cv2.contourArea)
    return cv2.approxPolyDP(c, 1.0, True).reshape(-1, 2).astype(np.float64)


def pasted_polygon(obj: mpb.CutOut, quad) -> np.ndarray:
    """The mask outline through the paste's perspective map (cut-out rectangle -> quad)."""
    oh, ow = obj.rgb.shape[:2]
    src = np.float32([[0, 0], [ow, 0], [ow, oh], [0, oh]])
    M = cv2.getPerspectiveTransform(src, np.float32(quad))
    poly = mask_outline(obj).reshape(-1, 1, 2).astype(np.float32)
    return cv2.perspectiveTransform(poly, M).reshape(-1, 2)


def click_point(poly: np.ndarray, box, size) -> list[float]:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    if cv2.pointPolygonTest(poly.reshape(-1, 1, 2).astype(np.float32), (cx, cy), True) > 2:
        return [round(cx, 1), round(cy, 1)]
    m = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillPoly(m, [np.round(poly).astype(np.int32)], 1)
    d = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(d)), d.shape)
    return [float(x), float(y)]


def r2(a) -> list:
    return [[round(float(x), 1), round(float(y), 1)] for x, y in np.asarray(a).reshape(-1, 2)]


def build_split(split: str, args) -> dict:
    t0 = time.perf_counter()
    # an independent stream per split (a split's set does not depend on the other's)
    rng = np.random.default_rng([args.seed, ["tune", "test"].index(split)])
    photos, info = collect(Path(args.sources), split)
    mpb.WORK_SIDE = WORK_SIDE
    ev = mpb.prepare({"eval": photos, "train": []}, lambda m: None)["eval"]
    groups: dict[int, list[mpb.Photo]] = {}
    for ph in ev:
        groups.setdefault(ph.group, []).append(ph)
    order = [int(g) for g in rng.permutation(sorted(groups))]
    log(f"[{split}] {len(ev)} photos in {len(groups)} groups from {', '.join(info)}")

    # roles: object sources, query backgrounds, the rest are backgrounds
    objects: list[mpb.CutOut] = []
    src_groups: list[int] = []
    for g in order:
        if len(objects) >= args.objects:
            break
        got = mpb.cut_objects(groups[g][0], 1, rng, mpb.MIN_OBJECT_KEYPOINTS)
        if got:
            objects.append(got[0])
            src_groups.append(g)
    rest = [g for g in order if g not in src_groups]
    qbg_groups, bg_groups = rest[: len(objects)], rest[len(objects) :]
    if len(bg_groups) < args.positives:
        raise SystemExit(f"[{split}] {len(bg_groups)} background groups < {args.positives}")
    backgrounds = [ph for g in bg_groups for ph in groups[g]]
    fillers: list[mpb.CutOut] = []
    for g in rng.permutation(bg_groups):
        if len(fillers) >= 16:
            break
        fillers.extend(mpb.cut_objects(groups[int(g)][0], 1, rng, 35, tries=8))
    log(
        f"[{split}] {len(objects)} objects, {len(qbg_groups)} query backgrounds, "
        f"{len(bg_groups)} background groups ({len(backgrounds)} photos), {len(fillers)} fillers"
    )

    out = Path(args.out) / split
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.jpg"):
        old.unlink()

    def ref(ph: mpb.Photo) -> dict:
        return {"package": ph.package, "file": ph.file, "sha256": ph.sha256}

    def occluder_for(group: int) -> np.ndarray:
        others = [b for b in backgrounds if b.group != group]
        return others[int(rng.integers(len(others)))].image

    def paste_into(ph: mpb.Photo, obj: mpb.CutOut, kind: str) -> tuple[np.ndarray, dict]:
        view, vmeta = mpb.view_of(ph, rng)
        p = sample_params(kind, rng)
        res = mpb.paste(view, obj, p, rng, occluder_for(ph.group) if p["occlusion"] else None)
        poly = pasted_polygon(obj, res["quad"])
        return view, {
            "size": vmeta["size"],
            "box": res["bbox"],
            "polygon": r2(poly),
            "visible": res["params"]["visible"],
            "kind": kind,
            "params": {
                k: res["params"][k]
                for k in (
                    "r",
                    "theta",
                    "persp",
                    "occlusion",
                    "blur",
                    "quality",
                    "gain",
                    "gamma",
                    "saturation",
                )
            },
            "background": ref(ph),
            "view": vmeta,
            "_poly": poly,
        }

    def write(name: str, img: np.ndarray, quality: int) -> str:
        (out / f"{name}.jpg").write_bytes(mpb.encode_jpeg(img, quality))
        return f"{name}.jpg"

    usage = {g: 0 for g in bg_groups}

    def pick_groups(n: int) -> list[int]:
        cand = [int(g) for g in rng.permutation(bg_groups)]
        cand.sort(key=lambda g: usage[g])
        for g in cand[:n]:
            usage[g] += 1
        return cand[:n]

    queries = []
    for k, obj in enumerate(objects):
        qbg = groups[qbg_groups[k]][0]
        view, meta = paste_into(qbg, obj, "query")
        path = write(f"q_{k:02d}", view, QUERY_QUALITY)
        poly = meta.pop("_poly")
        queries.append(
            {
                "id": f"{split}-{k:02d}",
                "path": path,
                "size": meta["size"],
                "box": meta["box"],
                "point": click_point(poly, meta["box"], meta["size"]),
                "polygon": meta["polygon"],
                "object": {
                    "source": ref(obj.photo),
                    "shape": obj.shape,
                    "rect": obj.photo.native_box(obj.rect),
                },
                "query_background": meta["background"],
                "positives": [],
                "negatives": [],
            }
        )
        kinds = ["mild", "middle"] * (args.positives // 2) + ["mild"] * (args.positives % 2)
        for j, (g, kind) in enumerate(zip(pick_groups(args.positives), kinds, strict=True)):
            members = groups[g]
            ph = members[int(rng.integers(len(members)))]
            view, meta = paste_into(ph, obj, kind)
            meta.pop("_poly")
            meta["path"] = write(f"p_{k:02d}_{j:02d}", view, meta["params"]["quality"])
            queries[-1]["positives"].append(meta)

    negatives = []
    for i in range(args.negatives):
        g = pick_groups(1)[0]
        members = groups[g]
        ph = members[int(rng.integers(len(members)))]
        filler = i % 2 == 1 and bool(fillers)
        if filler:
            cands = [f for f in fillers if f.photo.group != g] or fillers
            fo = cands[int(rng.integers(len(cands)))]
            view, meta = paste_into(ph, fo, "middle")
            quality = meta["params"]["quality"]
        else:
            view, vmeta = mpb.view_of(ph, rng)
            meta = {"background": ref(ph), "view": vmeta}
            quality = int(rng.uniform(70, 96))
        negatives.append(
            {
                "path": write(f"n_{i:03d}", view, quality),
                "kind": "filler" if filler else "plain",
                "background": meta["background"],
            }
        )
    for k, q in enumerate(queries):
        q["negatives"] = list(negatives)
        for j, other in enumerate(queries):
            if j != k:
                picks = rng.choice(len(other["positives"]), args.cross, replace=False)
                q["negatives"] += [
                    {"path": other["positives"][int(p)]["path"], "kind": "other-object"}
                    for p in sorted(picks)
                ]
    manifest = {
        "split": split,
        "seed": args.seed,
        "sources": info,
        "photos": len(ev),
        "queries": queries,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, default=mpb._plain))
    summary = {
        "split": split,
        "queries": len(queries),
        "positive_pairs": sum(len(q["positives"]) for q in queries),
        "negative_pairs": sum(len(q["negatives"]) for q in queries),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    log(json.dumps(summary))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", default="build/localize-sources")
    ap.add_argument("--out", required=True)
    ap.add_argument("--split", choices=["tune", "test", "both"], default="both")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--objects", type=int, default=12, help="query objects per split")
    ap.add_argument("--positives", type=int, default=20, help="positive photos per object")
    ap.add_argument("--negatives", type=int, default=48, help="shared negative photos")
    ap.add_argument("--cross", type=int, default=2, help="other objects' positives per query")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    for split in ["tune", "test"] if args.split == "both" else [args.split]:
        build_split(split, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
