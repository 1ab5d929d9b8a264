"""``bench batching``: what bucketing by aspect and decoding on the device do to the
descriptors and to retrieval on a real-photo evaluation set.

Every variant describes the same database and queries; each is compared with the reference
(exact shapes, batch 1, Pillow decoding): the cosine of each photo's descriptor to its
reference descriptor, and the global mAP (Easy / Medium / Hard) of the ranking it gives.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: name → Extractor options; the first is the reference
VARIANTS: dict[str, dict] = {
    "reference (exact shapes, batch 1, Pillow decoding)": dict(
        batch_size=1, bucket=False, device_decode=False
    ),
    "bucketed by aspect (sides padded to multiples of 32 px), batch 8": dict(
        batch_size=8, bucket=True, device_decode=False
    ),
    "JPEGs decoded by torchvision on the device, resized there": dict(
        batch_size=1, bucket=False, device_decode=True
    ),
}


def bench_batching(
    gnd: str,
    images: str,
    model: str = "default",
    device: str = "auto",
    limit: int | None = None,
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Per variant: descriptor cosine to the reference (min, 1st percentile, median) and
    global mAP; ``limit`` keeps the first database photos only (a quick look)."""
    from engine.evaluation.revisitop import evaluate_ranking, load_ground_truth
    from engine.evaluation.runner import _find_image, extract_all, rank
    from engine.network.checkpoint import resolve_model
    from engine.network.extract import Extractor

    gt = load_ground_truth(gnd)
    root = Path(images)
    db_paths = [_find_image(root, n) for n in gt.imlist][:limit]
    q_paths = [_find_image(root, n) for n in gt.qimlist]
    boxes = [tuple(g["bbx"]) if g["bbx"] else None for g in gt.gnd]
    net = resolve_model(model)
    rows: list[dict] = []
    ref_b = None
    for name, opts in VARIANTS.items():
        ex = Extractor(net, device=device, **opts)
        t = time.perf_counter()
        xb = extract_all(ex, db_paths)
        rate = len(db_paths) / (time.perf_counter() - t)
        xq = extract_all(ex, q_paths, boxes=boxes)
        if ref_b is None:
            ref_b = xb
        cos = np.sum(xb * ref_b, axis=1)
        row = {
            "variant": name,
            "photos": len(db_paths),
            "device": str(ex.device),
            "cosine_min": round(float(cos.min()), 4),
            "cosine_p1": round(float(np.percentile(cos, 1)), 4),
            "cosine_median": round(float(np.median(cos)), 4),
            "photos_per_s": round(rate, 2),
        }
        if limit is None:
            res = evaluate_ranking(rank(xq, xb)[1], gt)
            row.update({p: res[p]["mAP"] for p in "EMH"})
        rows.append(row)
        if log:
            maps = f"  mAP E {row['E']:.2f} M {row['M']:.2f} H {row['H']:.2f}" if "E" in row else ""
            log(
                f"{name:<60} cosine min {row['cosine_min']:.4f} p1 {row['cosine_p1']:.4f} "
                f"median {row['cosine_median']:.4f}{maps}  {rate:.1f} photos/s"
            )
    return rows
