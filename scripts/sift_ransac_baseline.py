"""The training-free anchor: SIFT + RANSAC against every photo of a Revisited-Oxford-style set.

    python scripts/sift_ransac_baseline.py DIR [--limit-queries N] [--max-features 1000]

``DIR`` holds ``gnd_*.pkl`` and ``jpg/`` (as written by ``scripts/make_photo_benchmark.py``).
Each query is cropped to its ``bbx``; RootSIFT (OpenCV SIFT, L1-normalise, square root) of the
crop is matched against every database photo's RootSIFT (Lowe ratio 0.8, one-to-one), a
homography is fitted to each photo's tentative matches by RANSAC (``cv2.findHomography``,
5 px), and the photos are ranked by inlier count (ties: tentative matches). Easy / Medium /
Hard mAP come from the project's own scoring (``engine.evaluation.revisitop``); the time per
query covers the query's feature extraction, matching and RANSAC. The database features are
cached in ``DIR/sift_cache_<max-features>.npz`` (positions and the raw uint8 SIFT
descriptors).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from make_photo_benchmark import ransac_inliers, ratio_matches, rootsift

from engine.evaluation.revisitop import (
    GroundTruth,
    evaluate_ranking,
    load_ground_truth,
)

SUFFIXES = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")


def find_image(images: Path, name: str) -> Path:
    for suf in ("", *SUFFIXES):
        p = images / f"{name}{suf}"
        if p.is_file():
            return p
    raise SystemExit(f"{images}: no image for {name!r}")


def extract(path: str, max_features: int, box=None) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint positions (n, 2) float32 and raw SIFT descriptors (n, 128) uint8."""
    gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise SystemExit(f"{path}: cannot be read")
    x0 = y0 = 0
    if box is not None:
        h, w = gray.shape
        x0, y0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
        x1, y1 = min(w, math.ceil(box[2])), min(h, math.ceil(box[3]))
        gray = gray[y0:y1, x0:x1]
    kps, desc = cv2.SIFT_create(nfeatures=max_features).detectAndCompute(gray, None)
    xy = np.array([k.pt for k in kps], np.float32).reshape(-1, 2) + np.float32([x0, y0])
    d = np.zeros((0, 128), np.uint8) if desc is None else np.round(desc).astype(np.uint8)
    return xy.astype(np.float32), d


def _extract_job(args):
    cv2.setNumThreads(1)
    return extract(*args)


def database_features(
    paths: list[Path], max_features: int, cache: Path, workers: int
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    names = [p.name for p in paths]
    sizes = [p.stat().st_size for p in paths]
    if cache.is_file():
        with np.load(cache) as z:
            if z["names"].tolist() == names and z["sizes"].tolist() == sizes:
                off, allxy = z["offsets"], z["xy"]
                xy = [allxy[off[i] : off[i + 1]] for i in range(len(paths))]
                return xy, z["desc"], off
        print(f"{cache}: stale, extracting again", flush=True)
    t0 = time.perf_counter()
    jobs = [(str(p), max_features) for p in paths]
    if workers > 1:
        with Pool(workers) as pool:
            res = pool.map(_extract_job, jobs, chunksize=8)
    else:
        res = [_extract_job(j) for j in jobs]
    xy = [r[0] for r in res]
    desc = np.concatenate([r[1] for r in res])
    off = np.concatenate([[0], np.cumsum([len(r[0]) for r in res])]).astype(np.int64)
    np.savez(
        cache,
        names=np.array(names),
        sizes=np.array(sizes),
        offsets=off,
        xy=np.concatenate(xy),
        desc=desc,
    )
    print(
        f"database: {len(paths)} photos, {len(desc)} features, extracted in "
        f"{time.perf_counter() - t0:.0f} s -> {cache}",
        flush=True,
    )
    return xy, desc, off


class Database:
    """RootSIFT of the database photos that have at least two features, concatenated."""

    def __init__(self, xy: list[np.ndarray], desc: np.ndarray, off: np.ndarray):
        lens = np.diff(off)
        self.n = len(xy)
        self.ids = np.flatnonzero(lens >= 2)
        self.xy = xy
        self.lens = lens[self.ids]
        self.desc = rootsift(np.concatenate([desc[off[i] : off[i + 1]] for i in self.ids]))


def rank_query(qxy: np.ndarray, qd: np.ndarray, db: Database, ratio: float) -> np.ndarray:
    """Database indices, best first: by RANSAC inliers, then tentative matches."""
    inliers = np.zeros(db.n, np.int64)
    tentative = np.zeros(db.n, np.int64)
    if len(qd) >= 2:
        for seg, rows, cols in ratio_matches(qd, db.desc, db.lens, ratio):
            k = db.ids[seg]
            tentative[k] = len(rows)
            if len(rows) >= 4:
                inliers[k] = ransac_inliers(qxy[rows], db.xy[k][cols])
    return np.lexsort((np.arange(db.n), -tentative, -inliers))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="folder with gnd_*.pkl and jpg/")
    ap.add_argument("--gnd", help="ground-truth file (default: the one gnd_*.pkl in DIR)")
    ap.add_argument("--limit-queries", type=int, default=0, help="only the first N queries")
    ap.add_argument("--max-features", type=int, default=1000, help="SIFT features per photo")
    ap.add_argument("--ratio", type=float, default=0.8)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--save-ranking", help="write the top 100 database names per query (JSON)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    root = Path(args.dir)
    gnd_path = Path(args.gnd) if args.gnd else None
    if gnd_path is None:
        found = sorted(root.glob("gnd_*.pkl"))
        if len(found) != 1:
            raise SystemExit(f"{root}: expected one gnd_*.pkl, found {len(found)}; use --gnd")
        gnd_path = found[0]
    gt = load_ground_truth(gnd_path)
    nq = len(gt.qimlist) if args.limit_queries <= 0 else min(args.limit_queries, len(gt.qimlist))
    gt = GroundTruth(gt.imlist, gt.qimlist[:nq], gt.gnd[:nq], gt.name)
    images = root / "jpg"
    db_paths = [find_image(images, n) for n in gt.imlist]
    cache = root / f"sift_cache_{args.max_features}.npz"
    xy, desc, off = database_features(db_paths, args.max_features, cache, args.workers)
    cv2.setNumThreads(1)
    db = Database(xy, desc, off)
    ranking = np.zeros((nq, len(db_paths)), np.int64)
    times = []
    for qi, name in enumerate(gt.qimlist):
        t0 = time.perf_counter()
        qxy, qraw = extract(str(find_image(images, name)), args.max_features, gt.gnd[qi]["bbx"])
        ranking[qi] = rank_query(qxy, rootsift(qraw), db, args.ratio)
        times.append(time.perf_counter() - t0)
        if (qi + 1) % 10 == 0 or qi + 1 == nq:
            print(f"  {qi + 1}/{nq} queries, {1000 * np.mean(times):.0f} ms each", flush=True)
    res = evaluate_ranking(ranking, gt)
    res["info"] = {
        "queries": nq,
        "database": len(db_paths),
        "database_features": len(desc),
        "max_features": args.max_features,
        "ratio": args.ratio,
        "ms_per_query_mean": round(1000 * float(np.mean(times)), 1),
        "ms_per_query_median": round(1000 * float(np.median(times)), 1),
    }
    if args.save_ranking:
        Path(args.save_ranking).write_text(
            json.dumps(
                {q: [gt.imlist[j] for j in ranking[i][:100]] for i, q in enumerate(gt.qimlist)}
            )
        )
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(
            f"SIFT + RANSAC against every photo ({nq} queries, {len(db_paths)} photos, "
            f"<= {args.max_features} RootSIFT per photo, ratio {args.ratio})"
        )
        for p, label in (("E", "Easy"), ("M", "Medium"), ("H", "Hard")):
            r = res[p]
            print(
                f"  {label:<6} mAP {r['mAP']:6.2f}  mP@1 {r['mP@1']:6.2f}  mP@5 {r['mP@5']:6.2f}  "
                f"mP@10 {r['mP@10']:6.2f}  ({r['queries']} queries)"
            )
        info = res["info"]
        print(
            f"  {info['ms_per_query_mean']:.0f} ms per query (median "
            f"{info['ms_per_query_median']:.0f}), feature extraction of the query included"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
