"""What a search returns: ranked hits, the query's descriptor and attention, and an export."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.library.store.fspath import path_bytes_field

if TYPE_CHECKING:
    from engine.match.verify import Verification
    from engine.photo.decode import Box

__all__ = [
    "OTHERS_SHOWN",
    "TOO_LITTLE_DETAIL_TEXT",
    "Hit",
    "SearchResult",
    "export_results",
]

#: results that only look alike, shown after the verified matches: a handful, not the ranking
OTHERS_SHOWN = 12
#: what a search of a featureless query (a flat colour, a blank wall) says instead of results
TOO_LITTLE_DETAIL_TEXT = "this photo has too little detail to search"
TOO_LITTLE_DETAIL_BOX_TEXT = "this region has too little detail to search"


@dataclass
class Hit:
    """One ranked match."""

    file_id: int
    path: str
    score: float
    width: int | None = None
    height: int | None = None
    folder: str | None = None
    inliers: int | None = None  # set when the result was checked geometrically
    global_score: float | None = None  # cosine of the network's descriptors
    local_score: float | None = None  # ASMK* similarity of the local features
    verified: bool = False  # a geometric transform explains enough matches
    quad: list[list[float]] | None = None  # the query box's corners in this photo, if verified
    #: the geometric check as it was made (inlier pairs in both photos, the transform); what
    #: heatmaps, the compare view and outlines read
    evidence: Verification | None = field(default=None, repr=False, compare=False)
    #: whether the file is there now (a folder moved away or a drive not connected: the
    #: library still holds the photo, which cannot be opened until it is back)
    on_disk: bool = True

    def to_dict(self) -> dict:
        def r(x):
            return None if x is None else round(float(x), 6)

        return {
            "path": self.path,
            **path_bytes_field(self.path),
            "score": r(self.score),
            "global_score": r(self.global_score),
            "local_score": r(self.local_score),
            "inliers": self.inliers,
            "verified": self.verified,
            "quad": self.quad,
            "width": self.width,
            "height": self.height,
            "on_disk": self.on_disk,
        }


@dataclass
class SearchResult:
    """A query's descriptor and attention, and its ranked matches.

    ``attention (h, w)`` and ``input_size`` describe the query as the network saw it (the box
    region when a box was given) — what the GUI needs to overlay a heatmap.
    """

    query: str
    box: Box | None
    hits: list[Hit]
    descriptor: np.ndarray
    attention: np.ndarray
    input_size: tuple[int, int]
    original_size: tuple[int, int]
    model: str
    index_kind: str
    seconds: float
    excluded_self: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    pipeline: str = "global"
    #: verified matches among the hits; a query with none is "no match"
    matches: int = 0
    #: weight of the network's cosine in the ranking (0: shown, not fused; see retrieval.py)
    global_weight: float = 0.0
    #: indexed photos this search's network ranking could not see: they have no vector of the
    #: model yet (``index --vectors`` computes them)
    missing_vectors: int = 0
    #: the query has too little detail to search (``search.too_little_detail``): no hits
    too_little_detail: bool = False

    @property
    def message(self) -> str | None:
        """What to say instead of results, if anything: "this photo has too little detail to
        search" (or "this region…" for a box)."""
        if not self.too_little_detail:
            return None
        return TOO_LITTLE_DETAIL_BOX_TEXT if self.box_searched else TOO_LITTLE_DETAIL_TEXT

    @property
    def box_searched(self) -> bool:
        """Whether a region was searched (the box is not the whole photo)."""
        if not self.box:
            return False
        return tuple(self.box) != (0.0, 0.0, *map(float, self.original_size))

    def shown(self, others: int | None = OTHERS_SHOWN) -> tuple[list[Hit], list[Hit]]:
        """What a person is shown: the verified matches, then at most ``others`` (None: all) of
        the rest. A global-only search verifies nothing: all its hits come as ranked."""
        if self.pipeline == "global":
            return [], list(self.hits)
        verified = [h for h in self.hits if h.verified]
        rest = [h for h in self.hits if not h.verified]
        return verified, rest if others is None else rest[:others]

    @property
    def no_match(self) -> bool:
        """No result was verified (the others are only similar, not the same thing)."""
        return self.pipeline != "global" and self.matches == 0 and not self.too_little_detail

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "box": list(self.box) if self.box else None,
            "model": self.model,
            "index": self.index_kind,
            "pipeline": self.pipeline,
            "matches": self.matches,
            "global_weight": self.global_weight,
            "missing_vectors": self.missing_vectors,
            "no_match": self.no_match,
            "too_little_detail": self.too_little_detail,
            "message": self.message,
            "seconds": round(self.seconds, 4),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "results": [h.to_dict() for h in self.hits],
        }


def export_results(result: SearchResult, path: str | os.PathLike) -> None:
    """Write a ranked list as CSV (``rank,score,verified,inliers,path,width,height``) or
    JSON, by suffix."""
    import csv
    import json

    p = Path(path)
    if p.suffix.lower() == ".json":
        p.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
        return
    with open(p, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(["rank", "score", "verified", "inliers", "path", "width", "height"])
        for i, h in enumerate(result.hits, start=1):
            w.writerow(
                [
                    i,
                    f"{h.score:.6f}",
                    int(h.verified),
                    h.inliers if h.inliers is not None else "",
                    h.path,
                    h.width or "",
                    h.height or "",
                ]
            )
