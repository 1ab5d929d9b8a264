"""``bench quality``: every search pipeline on one Revisited-Oxford-format set, described once.

The database is described once (network descriptors and local codes), then ranked by: the
network alone (global), the local features without and with verification, and the fused
default without and with verification. Figures: Easy / Medium / Hard mAP (percent) and ms per
query (the query's description included; the network's descriptor of the query is not timed
separately and is the same for every pipeline).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


def evaluation_set(gnd: str, images: str):
    """``(ground truth, database paths, query paths, query boxes)`` of a Revisited-Oxford-format
    set."""
    from engine.evaluation.revisitop import load_ground_truth
    from engine.evaluation.runner import _find_image

    gt = load_ground_truth(gnd)
    root = Path(images)
    db_paths = [_find_image(root, n) for n in gt.imlist]
    q_paths = [_find_image(root, n) for n in gt.qimlist]
    boxes = [tuple(g["bbx"]) if g["bbx"] else None for g in gt.gnd]
    return gt, db_paths, q_paths, boxes


def bench_quality(
    gnd: str,
    images: str,
    model: str = "default",
    verify: int = 50,
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    from engine.evaluation.pipeline import LocalDatabase, describe_queries
    from engine.evaluation.revisitop import evaluate_ranking
    from engine.evaluation.runner import extract_all, rank
    from engine.match.codebook import default_codebook
    from engine.match.rank import GLOBAL_WEIGHT, learned_from_photos
    from engine.network.loader import open_extractor

    gt, db_paths, q_paths, boxes = evaluation_set(gnd, images)
    ex, _ = open_extractor(model)  # the runtime the product picks (ONNX Runtime on a CPU)
    book = default_codebook()
    t = time.perf_counter()
    xb = extract_all(ex, db_paths)
    t_global = time.perf_counter() - t
    xq = extract_all(ex, q_paths, boxes=boxes)
    sims = xq @ xb.T
    t = time.perf_counter()
    db = LocalDatabase.describe(db_paths, book)
    t_local = time.perf_counter() - t
    t = time.perf_counter()
    queries = describe_queries(q_paths, boxes, book)
    q_ms = 1000 * (time.perf_counter() - t) / max(len(q_paths), 1)
    rows = []
    gw = GLOBAL_WEIGHT if learned_from_photos(ex.model) else 0.0
    variants = [
        ("global (the network alone)", None),
        ("local, not verified", ("local", 0, None)),
        (f"local + verification of the top {verify}", ("local", verify, None)),
        (f"fused at {GLOBAL_WEIGHT}, not verified", ("fused", 0, GLOBAL_WEIGHT)),
        (f"fused at {GLOBAL_WEIGHT} + verification", ("fused", verify, GLOBAL_WEIGHT)),
        (f"the default search (network weight {gw})", ("fused", verify, gw)),
    ]
    for name, spec in variants:
        t = time.perf_counter()
        if spec is None:
            _, ranking = rank(xq, xb)
            ms = 1000 * (time.perf_counter() - t) / max(len(q_paths), 1)
        else:
            ranking, info = db.rank(queries, sims, *spec)
            ms = info["ms_per_query"] + q_ms
        res = evaluate_ranking(ranking, gt)
        row = {"pipeline": name, **{p: res[p]["mAP"] for p in "EMH"}, "ms_per_query": round(ms)}
        rows.append(row)
        if log:
            log(f"{name:<48} E {row['E']:6.2f}  M {row['M']:6.2f}  H {row['H']:6.2f}  {ms:7.0f} ms")
    if log:
        n = len(db_paths)
        log(
            f"database {n} photos: network {1000 * t_global / n:.0f} ms/photo, local features "
            f"{1000 * t_local / n:.0f} ms/photo (worker processes); "
            f"{sum(c.nbytes for c in db.codes) / n:.0f} B of local data per photo"
        )
    return rows
