"""What a search returns: ranked hits, the query's descriptor and attention, and an export."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the result types need no torch
    from ..extract import Box

__all__ = ["Hit", "SearchResult", "export_results"]


@dataclass
class Hit:
    """One ranked match."""

    file_id: int
    path: str
    score: float
    width: int | None = None
    height: int | None = None
    folder: str | None = None
    inliers: int | None = None  # set when the result was geometrically verified


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

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "box": list(self.box) if self.box else None,
            "model": self.model,
            "index": self.index_kind,
            "seconds": round(self.seconds, 4),
            "results": [
                {"path": h.path, "score": round(h.score, 6), "width": h.width, "height": h.height}
                for h in self.hits
            ],
        }


def export_results(result: SearchResult, path: str | os.PathLike) -> None:
    """Write a ranked list as CSV (``rank,score,path,width,height``) or JSON, by suffix."""
    import csv
    import json

    p = Path(path)
    if p.suffix.lower() == ".json":
        p.write_text(json.dumps(result.to_dict(), indent=1), encoding="utf-8")
        return
    with open(p, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(["rank", "score", "path", "width", "height"])
        for i, h in enumerate(result.hits, start=1):
            w.writerow([i, f"{h.score:.6f}", h.path, h.width or "", h.height or ""])
