"""Where the query's object is in each result: by geometry first; in a verified photo where
the click has too few inliers around it, by the network's patch features (the seed method)
when confident; otherwise "not found in this photo"."""

from __future__ import annotations

import os
from dataclasses import dataclass

from engine.errors import BadImageError
from engine.library.query.search import Query
from engine.library.store import FileRow, Store
from engine.match.localize import outline
from engine.match.verify import Verification, verify_code

#: a seed-method outline is drawn only at this confidence or above
SEED_MIN_SCORE = 0.5


@dataclass
class Location:
    """The object in one result.

    method: ``geometry`` (the verified transform), ``seed`` (network patch features) or None
    (not found here); box ``(x0, y0, x1, y1)`` and polygon ``[[x, y], ...]`` in the result's
    pixels; confidence in [0, 1]; reason: why nothing was found.
    """

    file_id: int
    path: str
    method: str | None
    box: tuple[float, float, float, float] | None
    polygon: list[list[float]] | None
    confidence: float
    reason: str | None = None

    @property
    def found(self) -> bool:
        return self.method is not None

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "found": self.found,
            "method": self.method,
            "box": None if self.box is None else [round(v, 1) for v in self.box],
            "polygon": self.polygon,
            "confidence": round(self.confidence, 3),
            "reason": self.reason,
        }


def evidence(q: Query, store: Store, codebook: str, row: FileRow) -> Verification:
    """The verification of the query against one library photo (inlier pairs included)."""
    code = store.codes.local_codes_for(codebook, [row.id]).get(row.id)
    if code is None or not row.width:
        return Verification.none()
    return verify_code(q.code.assign, q.code.feats.kp, q.box, code, (row.width, row.height))


def locate_in(
    q: Query,
    store: Store,
    codebook: str,
    row: FileRow,
    point: tuple[float, float] | None,
    seed_localizer=None,
    query_src=None,
) -> Location:
    """The query region (or the object under ``point``) in the photo of ``row``."""
    path = row.display_path
    v = evidence(q, store, codebook, row)
    size = (float(row.width or 0), float(row.height or 0))
    o = outline(v, q.box, size, point) if v.verified else None
    if o is not None:
        poly = o.polygon.round(1).tolist()
        return Location(row.id, path, "geometry", o.box, poly, o.confidence)
    # the network's patch features only localise inside a photo the geometry verified (they
    # score high on any photo, so alone they are no evidence that the object is there)
    if v.verified and seed_localizer is not None and query_src is not None:
        try:
            box = None if q.box == (0.0, 0.0, *q.extraction.original_size) else q.box
            loc = seed_localizer.localize(query_src, os.fsdecode(row.path), point=point, box=box)
        except BadImageError as e:
            return Location(row.id, path, None, None, None, 0.0, str(e))
        if loc.score >= SEED_MIN_SCORE:
            x0, y0, x1, y1 = (float(c) for c in loc.box)
            poly = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
            return Location(row.id, path, "seed", (x0, y0, x1, y1), poly, float(loc.score))
    why = "no geometric match" if not v.verified else "no matching features near the click"
    return Location(row.id, path, None, None, None, 0.0, f"not found in this photo ({why})")
