"""Run a model over an evaluation set and score it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.errors import BadImageError, CancelledError, VisualSearchError
from engine.evaluation.revisitop import (
    GroundTruth,
    evaluate_ranking,
    leave_one_out_map,
    load_ground_truth,
)
from engine.match.codebook import Codebook, default_codebook
from engine.match.rank import GLOBAL_WEIGHT, PIPELINES, VERIFY_TOP, learned_from_photos
from engine.network.extraction import ExtractorBase as Extractor
from engine.photo.formats import IMAGE_EXTENSIONS, escapes_folder, is_photo_name
from engine.tasks import ProgressFn, StopFn, with_rate

#: tried in this order after the bare name; the one list of photo extensions, upper case too
IMAGE_SUFFIXES = tuple(
    s
    for e in sorted(IMAGE_EXTENSIONS, key=lambda e: (e != b".jpg", e))
    for s in (e.decode(), e.decode().upper())
)


def _find_image(images: Path, name: str) -> Path:
    if escapes_folder(name):
        raise VisualSearchError(
            f"{images}: the ground truth names {name!r}, which leads outside this folder; refused"
        )
    for suf in ("", *IMAGE_SUFFIXES):
        p = images / f"{name}{suf}"
        if p.is_file():
            return p
    raise VisualSearchError(f"{images}: no image for {name!r} (tried {name}.jpg, .png)")


def extract_all(
    ex: Extractor,
    paths: list[Path],
    boxes=None,
    progress: Callable[[int, int, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """``(n, D)`` descriptors; a photo that cannot be decoded is an error naming it."""
    out = np.zeros((len(paths), ex.dim), np.float32)
    for i, res in ex.extract(paths, boxes=boxes, progress=progress, should_stop=should_stop):
        if isinstance(res, BadImageError):
            raise VisualSearchError(f"{paths[i]}: {res}")
        out[i] = res.descriptor
    return out


def rank(xq: np.ndarray, xb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact ranking by inner product: ``(scores, ranking)`` both ``(nq, ndb)``, best first."""
    sims = xq @ xb.T
    order = np.argsort(-sims, axis=1, kind="stable")
    return np.take_along_axis(sims, order, axis=1), order


def evaluate_revisitop(
    ex: Extractor,
    gnd_path: str | os.PathLike,
    images: str | os.PathLike,
    distractors: str | os.PathLike | None = None,
    save_ranking: str | os.PathLike | None = None,
    rerank: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
    pipeline: str = "fused",
    codebook: Codebook | None = None,
    verify: int = VERIFY_TOP,
) -> dict:
    """Rank the database for each (box-cropped) query and score E/M/H in percent.

    ``pipeline``: ``fused`` (the product's default search: local and global similarity, the
    top ``verify`` checked geometrically), ``local`` (RootSIFT + ASMK* and verification, no
    network) or ``global`` (the network's descriptor; ``rerank=K`` re-ranks its top K by
    RootSIFT + RANSAC on the photos). ``distractors``: a folder of extra database photos (the
    +R1M setting); they are never positives. ``save_ranking`` writes every database photo in
    rank order per query.
    """
    if pipeline not in PIPELINES:
        raise VisualSearchError(f"pipeline must be one of {', '.join(PIPELINES)}")
    gt: GroundTruth = load_ground_truth(gnd_path)
    images = Path(images)
    t0 = time.perf_counter()
    db_paths = [_find_image(images, n) for n in gt.imlist]
    q_paths = [_find_image(images, n) for n in gt.qimlist]
    boxes = [tuple(g["bbx"]) if g["bbx"] else None for g in gt.gnd]
    extra: list[Path] = []
    if distractors:
        extra = sorted(
            p for p in Path(distractors).rglob("*") if is_photo_name(os.fsencode(p.name))
        )
    all_db = db_paths + extra
    sims = None
    if pipeline != "local":
        xb = extract_all(ex, all_db, progress=with_rate(progress, "describing the database"))
        xq = extract_all(
            ex, q_paths, boxes=boxes, progress=with_rate(progress, "describing the queries")
        )
        sims = xq @ xb.T
    t1 = time.perf_counter()
    info: dict = {}
    rerank_seconds = 0.0
    if pipeline == "global":
        from engine.evaluation.pipeline import global_ranking

        tr = time.perf_counter()
        book = codebook or default_codebook()
        ranking = global_ranking(q_paths, boxes, all_db, sims, book, rerank)
        rerank_seconds = time.perf_counter() - tr if rerank else 0.0
    else:
        from engine.evaluation.pipeline import pipeline_ranking

        book = codebook or default_codebook()
        gw = GLOBAL_WEIGHT if learned_from_photos(ex.model) else 0.0
        ranking, info = pipeline_ranking(
            q_paths, boxes, all_db, sims, pipeline, book, max(verify, rerank), progress, gw
        )
        info["global_weight"] = gw if pipeline == "fused" else 0.0
        info["codebook"] = book.fingerprint
    results = evaluate_ranking(ranking, gt)
    names = gt.imlist + [str(p) for p in extra]
    if save_ranking:
        Path(save_ranking).write_text(
            json.dumps({q: [names[j] for j in ranking[i]] for i, q in enumerate(gt.qimlist)})
        )
    results["info"] = {
        "dataset": gt.name,
        "pipeline": pipeline,
        "queries": len(gt.qimlist),
        "database": len(names),
        "distractors": len(extra),
        "extract_seconds": round(t1 - t0, 2),
        "seconds_per_1000_images": round(1000 * (t1 - t0) / max(len(names) + len(q_paths), 1), 2),
        "rerank": rerank,
        "rerank_ms_per_query": round(1000 * rerank_seconds / max(len(q_paths), 1), 1),
        **info,
    }
    return results


def evaluate_folder_set(
    ex: Extractor,
    root: str | os.PathLike,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> dict:
    """Leave-one-out retrieval mAP (percent) on a folder-per-class set; ``progress`` says what
    is done at this run's rate, ``should_stop`` ends it early (``CancelledError``)."""
    from engine.training.data import FolderDataset

    ds = FolderDataset(root)
    x = extract_all(
        ex,
        [it.path for it in ds.items],
        progress=with_rate(progress, "describing the photos"),
        should_stop=should_stop,
    )
    if should_stop is not None and should_stop():
        raise CancelledError("evaluation cancelled")
    labels = np.array([it.label for it in ds.items])
    return {
        "mAP": round(100 * leave_one_out_map(x, labels), 2),
        "images": len(ds.items),
        "classes": len(ds.classes),
    }
