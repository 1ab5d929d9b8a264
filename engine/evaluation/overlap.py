"""Class-overlap audit (the CiDeR paper's data lesson): training classes must not depict the
objects or places of the evaluation set, or every figure measured on it is inflated.

For each evaluation query, the training images most similar by global descriptor are
shortlisted, then verified geometrically; a training class with a verified pair is reported
with its evidence (query, training image, inliers, similarity), and the list of such classes
can be written as an exclusion list for ``train --exclude-classes``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.evaluation.pipeline import DescribedCache
from engine.evaluation.revisitop import load_ground_truth
from engine.evaluation.runner import _find_image, extract_all
from engine.match import verify_query
from engine.match.codebook import default_codebook
from engine.match.verify import MIN_INLIERS
from engine.network.extraction import ExtractorBase as Extractor
from engine.training.data import FolderDataset, LabelledSet, open_dataset


@dataclass
class Evidence:
    query: str
    train_image: str
    inliers: int
    similarity: float


@dataclass
class AuditReport:
    train_classes: int
    queries: int
    overlapping: dict[str, list[Evidence]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "train_classes": self.train_classes,
            "queries": self.queries,
            "overlapping_classes": sorted(self.overlapping),
            "evidence": {
                c: [vars(e) for e in sorted(ev, key=lambda e: -e.inliers)]
                for c, ev in sorted(self.overlapping.items())
            },
        }

    def write_exclusions(self, path: str | os.PathLike) -> None:
        lines = ["# training classes that overlap the evaluation set (visual-search audit)"]
        lines += sorted(self.overlapping)
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _eval_queries(spec: str | os.PathLike) -> tuple[list[Path], list]:
    """Query photos (and boxes) of a revisitop gnd file or of a folder-per-class set."""
    p = Path(spec)
    if p.suffix == ".pkl":
        gt = load_ground_truth(p)
        images = p.parent / "jpg" if (p.parent / "jpg").is_dir() else p.parent
        return [_find_image(images, q) for q in gt.qimlist], [g["bbx"] for g in gt.gnd]
    ds = FolderDataset(p, check_images=False, min_per_class=1)
    return [it.path for it in ds.items], [None] * len(ds.items)


def audit(
    ex: Extractor,
    train: LabelledSet | str | os.PathLike,
    evaluation: str | os.PathLike,
    shortlist: int = 50,
    min_inliers: int = MIN_INLIERS,
    progress: Callable[[int, int, str], None] | None = None,
) -> AuditReport:
    """Report training classes that show the same object/place as evaluation queries: a pair
    counts when the one verifier calls it verified (``min_inliers`` can only make it
    stricter)."""
    ds = train if isinstance(train, LabelledSet) else open_dataset(train)
    q_paths, boxes = _eval_queries(evaluation)
    xb = extract_all(ex, [it.path for it in ds.items])
    xq = extract_all(ex, q_paths, boxes=boxes)
    sims = xq @ xb.T
    cache = DescribedCache(default_codebook())
    report = AuditReport(train_classes=len(ds.classes), queries=len(q_paths))
    k = min(shortlist, len(ds.items))
    for qi, q in enumerate(q_paths):
        query = cache.query(q, boxes[qi])
        for j in np.argsort(-sims[qi])[:k]:
            item = ds.items[int(j)]
            photo = cache.photo(item.path)
            if query is None or photo is None:
                continue
            v = verify_query(query[0], query[1], photo[0], photo[1])
            if v.verified and v.inliers >= min_inliers:
                cid = ds.classes[item.label]
                report.overlapping.setdefault(cid, []).append(
                    Evidence(str(q), str(item.path), v.inliers, round(float(sims[qi, j]), 4))
                )
        if progress:
            progress(qi + 1, len(q_paths), "verifying")
    return report
