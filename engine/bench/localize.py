"""``bench localize --manifest PATH``: click-to-localize on real photographs with known boxes.

The set (``scripts/make_localize_benchmark.py``: objects cut from real photos and placed in
others; per query, photos that hold its object with their true boxes, and photos that do not)
is indexed into a temporary library. Each query is searched, then its object's centre is
clicked (``Library.locate``, the window's path) on every photo of its pairs, and separately
its true box drawn. Reported: on photos that hold the object, the share found, the mean IoU of
the outline's box with the true box (not found counts 0) and the share at IoU ≥ 0.5; the share
of photos without the object that get an outline; the same for the drawn box; and beside them
the training-free anchor: Lowe's ratio test and a RANSAC homography of the true query box
against each photo at 640 px / 3,000 RootSIFT, the box's corners projected (found at 8 inliers
and a sane quadrilateral). Speed: the wall time from a click to the outlines of the first 8
results of a search, in a library opened afresh (no photo described again yet), and to those
of 8 photos without the object (each described again: the slowest case).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

#: the results whose outlines the window shows first
FIRST = 8
#: the anchor finds the object at this many RANSAC inliers (and a sane projected box)
ANCHOR_INLIERS = 8


def bench_localize(
    manifest: str | os.PathLike,
    model: str | None = None,
    device: str = "auto",
    log: Callable[[str], None] | None = print,
) -> dict:
    """The figures above for one split's ``manifest.json`` (its photos beside it)."""
    from engine.inputs import load_json
    from engine.library import Library
    from engine.match.localize import REMATCH_SETTINGS, RedescribedPhotos

    man = Path(manifest)
    m = load_json(man)  # a FIFO is refused, nesting bounded
    say = log or (lambda s: None)
    with tempfile.TemporaryDirectory(prefix="vs-bench-localize-") as tmp:
        lib_dir = Path(tmp) / "library"
        t = time.perf_counter()
        with Library(lib_dir, device=device) as lib:
            lib.index([man.parent], model=model)
            rows = {Path(r.display_path).name: r for r in lib.store.files.ok_files()}
            say(f"indexed {len(rows)} photos in {time.perf_counter() - t:.0f} s")
            photos = RedescribedPhotos(len(rows) + 1, REMATCH_SETTINGS)
            pairs = [
                rec
                for q in m["queries"]
                for rec in _query_pairs(lib, q, man.parent, rows, photos, model)
            ]
        speed = _speed(lib_dir, m, man.parent, rows, model, device)
    out = {"manifest": str(man), "split": m.get("split"), **summary(pairs), **speed}
    say(report(out))
    return out


def _query_pairs(lib, q: dict, root: Path, rows: dict, photos, model) -> list[dict]:
    """One record per photo of a query's pairs: the click's, the box's and the anchor's box
    (None: not found) and the true box (None: the photo does not hold the object)."""
    from engine.match.describe import local_features

    qpath = str(root / q["path"])
    pairs = [(p, p["box"]) for p in q["positives"]] + [(p, None) for p in q["negatives"]]
    fids = [rows[p["path"]].id for p, _ in pairs]
    lib.search(qpath, k=20, model=model)
    click = lib.locate(qpath, fids, point=tuple(q["point"]), model=model)
    drawn = lib.locate(qpath, fids, box=tuple(q["box"]), model=model)
    qf = local_features(qpath, box=tuple(q["box"]), settings=lib.settings)
    out = []
    for (p, truth), c, b in zip(pairs, click, drawn, strict=True):
        row = rows[p["path"]]
        size = (float(row.width), float(row.height))
        a = anchor(qf, q["box"], photos.features(str(root / p["path"])), size)
        out.append({"truth": truth, "click": c.box, "method": c.method, "box": b.box, "anchor": a})
    return out


def anchor(qf, qbox, pf, size: tuple[float, float]):
    """The true query box in a photo by the training-free anchor, or None: ratio-test matches
    of the box's features ``qf`` with the photo's ``pf``, OpenCV's RANSAC homography (the
    product's reprojection threshold), one-to-one inliers, the box's corners projected."""
    from engine.match.localize import clip_to_photo
    from engine.match.verify import (
        MIN_REPROJ_PX,
        REPROJ_FRACTION,
        box_quad,
        one_to_one,
        project,
        quad_is_sane,
        ratio_correspondences,
    )

    qi, pi = ratio_correspondences(qf.desc, pf.desc)
    if len(qi) < ANCHOR_INLIERS:
        return None
    q, p = qf.kp[qi, :2].astype(np.float32), pf.kp[pi, :2].astype(np.float32)
    thr = max(MIN_REPROJ_PX, REPROJ_FRACTION * max(size))
    H, mask = cv2.findHomography(q, p, cv2.RANSAC, thr, maxIters=2000, confidence=0.995)
    if H is None or mask is None:
        return None
    inl = mask.ravel().astype(bool)
    if len(one_to_one(q[inl], p[inl])[0]) < ANCHOR_INLIERS:
        return None
    quad = project(H, box_quad(qbox))
    clipped = clip_to_photo(quad, size) if quad_is_sane(quad, size) else None
    if clipped is None:
        return None
    return (*clipped.min(axis=0).tolist(), *clipped.max(axis=0).tolist())


def _iou(a, b) -> float:
    from engine.photo.drawing import box_iou

    return 0.0 if a is None else box_iou(a, b)


def _rates(recs: list[dict], key: str) -> dict:
    pos = [r for r in recs if r["truth"] is not None]
    neg = [r for r in recs if r["truth"] is None]
    ious = np.array([_iou(r[key], r["truth"]) for r in pos])
    return {
        "found": float(np.mean([r[key] is not None for r in pos])),
        "mean_iou": float(ious.mean()),
        "iou50": float((ious >= 0.5).mean()),
        "false_outlines": float(np.mean([r[key] is not None for r in neg])),
        "false_count": int(sum(r[key] is not None for r in neg)),
    }


def summary(recs: list[dict]) -> dict:
    """The figures of ``recs`` (one per pair, as ``_query_pairs`` makes them)."""
    pos = [r for r in recs if r["truth"] is not None]
    stages = Counter(r["method"] for r in pos if r["method"])
    return {
        "positives": len(pos),
        "negatives": len(recs) - len(pos),
        "click": _rates(recs, "click"),
        "box": _rates(recs, "box"),
        "anchor": _rates(recs, "anchor"),
        "click_found_by": {k: round(v / len(pos), 3) for k, v in sorted(stages.items())},
    }


def _speed(lib_dir: Path, m: dict, root: Path, rows: dict, model, device) -> dict:
    """Seconds from a click to the outlines of the first 8 results of its search, and of 8
    photos without the object, each in a library opened afresh (mean and max over queries)."""
    from engine.library import Library

    first, worst = [], []
    for q in m["queries"]:
        qpath = str(root / q["path"])
        for sink, pick in ((first, None), (worst, q["negatives"][:FIRST])):
            with Library(lib_dir, device=device, mode="read") as lib:
                hits = lib.search(qpath, k=20, model=model).hits
                ids = [h.file_id for h in hits[:FIRST]] if pick is None else None
                ids = ids or [rows[p["path"]].id for p in pick]
                t = time.perf_counter()
                lib.locate(qpath, ids, point=tuple(q["point"]), model=model)
                sink.append(time.perf_counter() - t)
    return {
        "first8_seconds_mean": float(np.mean(first)),
        "first8_seconds_max": float(np.max(first)),
        "negatives8_seconds_mean": float(np.mean(worst)),
        "negatives8_seconds_max": float(np.max(worst)),
        "cores": _cores(),
    }


def _cores() -> int:
    from engine.cores import available_cores

    return available_cores()


def report(out: dict) -> str:
    """The figures as lines of text."""

    def line(name: str, r: dict) -> str:
        return (
            f"{name:<8} found {r['found']:.3f}  mean IoU {r['mean_iou']:.3f}  "
            f"IoU>=0.5 {r['iou50']:.3f}  outlines without the object {r['false_outlines']:.4f} "
            f"({r['false_count']}/{out['negatives']})"
        )

    return "\n".join(
        [
            f"{out['split']}: {out['positives']} photos with the object, "
            f"{out['negatives']} without",
            line("click", out["click"]),
            line("box", out["box"]),
            line("anchor", out["anchor"]),
            "click found by: "
            + ", ".join(f"{k} {v:.3f}" for k, v in out["click_found_by"].items()),
            f"first {FIRST} results' outlines after a search: mean "
            f"{out['first8_seconds_mean']:.2f} s, max {out['first8_seconds_max']:.2f} s; "
            f"{FIRST} photos without the object: mean {out['negatives8_seconds_mean']:.2f} s, "
            f"max {out['negatives8_seconds_max']:.2f} s ({out['cores']} cores)",
        ]
    )
