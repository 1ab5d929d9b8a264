"""One query and everything checked against it.

A search decodes its query once (``describe_query``: RootSIFT and the network's input from the
same pixels) and verifies photos through ``Evidence``, which keeps every verification with its
inlier pairs and transform. The next page of results, the "where it matched" heatmap, the
compare view and click-to-localize read that evidence: a photo already verified for this query
is never verified again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from engine.library.store import FileRow, Store
from engine.match import Codebook, DescribeSettings, QueryCode, describe, encode_query
from engine.match.verify import Verification, verify_query
from engine.photo.decode import Box, PhotoSource, describe_source

if TYPE_CHECKING:  # torch: loaded with the network
    from engine.network.extraction import Extraction
    from engine.network.extraction import ExtractorBase as Extractor


@dataclass
class Query:
    """A decoded query: the network's view of it and its local features; ``box`` the region
    searched, in original pixels (the whole photo when no box was drawn)."""

    extraction: Extraction
    code: QueryCode
    box: Box
    #: standard deviation of the searched pixels (0–255): near 0 for a flat, one-colour image
    contrast: float = 255.0

    @property
    def original_size(self) -> tuple[int, int]:
        return self.extraction.original_size


def describe_query(
    src: PhotoSource, box: Box | None, ex: Extractor, book: Codebook, settings: DescribeSettings
) -> Query:
    """One decode: RootSIFT at the matching size, the network's input from the same pixels."""
    from engine.network.extraction import Prepared

    d = describe(src, box, ex.image_size, settings)
    out = ex.run([Prepared(d.pixels, d.original_size, d.box, describe_source(src))])[0]
    region = d.box or (0.0, 0.0, float(d.original_size[0]), float(d.original_size[1]))
    contrast = float(np.asarray(d.pixels, np.float32).std()) if d.pixels is not None else 255.0
    return Query(out, encode_query(d.feats, book), tuple(region), contrast)


@dataclass
class Evidence:
    """Every verification of one query against library photos, each made once.

    ``of(file_ids)`` verifies the photos not checked yet (their codes and rows fetched in one
    query each) and returns every one asked for; ``verifications`` counts the checks made.
    """

    query: Query
    store: Store
    codebook: str
    checks: dict[int, Verification] = field(default_factory=dict)
    rows: dict[int, FileRow] = field(default_factory=dict)
    verifications: int = 0

    def of(self, file_ids: Iterable[int]) -> dict[int, Verification]:
        ids = [int(i) for i in file_ids]
        missing = list(dict.fromkeys(i for i in ids if i not in self.checks))
        if missing:
            codes = self.store.codes.local_codes_for(self.codebook, missing)
            self.rows.update(self.store.files.files_by_ids(missing))
            for fid in missing:
                code, row = codes.get(fid), self.rows.get(fid)
                if code is None or row is None or not row.width:
                    self.checks[fid] = Verification.none()
                    continue
                size = (row.width, row.height)
                self.checks[fid] = verify_query(self.query.code, self.query.box, code, size)
                self.verifications += 1
        return {i: self.checks[i] for i in ids}

    def row(self, file_id: int) -> FileRow | None:
        if file_id not in self.rows:
            self.rows.update(self.store.files.files_by_ids([file_id]))
        return self.rows.get(file_id)

    def matched_points(self, file_ids: Iterable[int]) -> np.ndarray:
        """``(n, 2)`` the query's points of every verified match among ``file_ids``."""
        pts = [v.q_xy for v in self.of(file_ids).values() if v.verified and v.q_xy is not None]
        return np.concatenate(pts) if pts else np.zeros((0, 2), np.float32)


@dataclass
class QuerySession:
    """The last query a library answered: its key (path, mtime, size, box, model, codebook and
    the codebook's generation), the described query and its evidence."""

    key: tuple | None
    query: Query
    evidence: Evidence
