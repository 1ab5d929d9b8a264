"""Click-to-localize over a library: the part of ``Library.locate`` that keeps what it made.

A click (or a drawn box) on a query builds its target once per (session, click) and keeps
each photo's ``Location`` for it, so asking again for the same click costs nothing. The stages
(``engine.match.localize``) read the session's evidence (stage 0), the photos' stored codes,
fetched in one query (stage 1), and the photo files (stage 2), each described again once and
kept by path, mtime and size across queries (``RedescribedPhotos``).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from engine.library.query.session import QuerySession
from engine.library.store import FAILED, Store
from engine.match.codebook import Codebook
from engine.match.describe import DescribeSettings
from engine.match.localize import (
    UNREADABLE,
    Candidate,
    Location,
    RedescribedPhotos,
    locate_all,
    not_found,
)
from engine.match.target import Target, box_target, click_problem, click_target
from engine.photo.decode import Box, PhotoSource

#: clicks whose targets and outlines are kept (the latest ones)
KEPT_CLICKS = 16


@dataclass
class Click:
    """One click (or box) on one query: its target, or the problem that stops it (a click
    outside the photo or the searched box), and each photo's location found so far."""

    target: Target | None
    problem: str | None = None
    found: dict[int, Location] = field(default_factory=dict)


class Outlines:
    """Targets and outlines of the latest clicks, and photos described again for them."""

    def __init__(self, store: Store, photos: int = 64) -> None:
        self.store = store
        self.photos = RedescribedPhotos(photos)
        self.targets_built = 0
        self._clicks: OrderedDict[tuple, Click] = OrderedDict()
        self._lock = threading.Lock()

    def locate(
        self,
        src: PhotoSource,
        session: QuerySession,
        book: Codebook,
        settings: DescribeSettings,
        file_ids: Iterable[int],
        point: tuple[float, float] | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_location: Callable[[Location], None] | None = None,
    ) -> list[Location]:
        """Each photo's ``Location`` (photos the library does not hold are left out)."""
        click = self._click(src, session, book, settings, point)
        ids = [int(i) for i in file_ids]
        todo = [i for i in dict.fromkeys(ids) if i not in click.found]
        if on_location is not None:
            for i in ids:
                if i in click.found:
                    on_location(click.found[i])
        fresh: dict[int, Location] = {}
        if todo:
            for loc in self._new(session, click, todo, should_stop, on_location):
                fresh[loc.file_id] = loc
                if loc.found or UNREADABLE not in (loc.reason or ""):  # else: asked again
                    click.found[loc.file_id] = loc
        return [click.found.get(i) or fresh[i] for i in ids if i in click.found or i in fresh]

    def _click(
        self,
        src: PhotoSource,
        session: QuerySession,
        book: Codebook,
        settings: DescribeSettings,
        point: tuple[float, float] | None,
    ) -> Click:
        """The click's record: kept when the session has a key (a query file), else fresh."""
        spot = None if point is None else (float(point[0]), float(point[1]))
        key = None if session.key is None else (session.key, spot)
        with self._lock:
            if key is not None and key in self._clicks:
                self._clicks.move_to_end(key)
                return self._clicks[key]
        click = self._build(src, session, book, settings, spot)
        if key is not None:
            with self._lock:
                click = self._clicks.setdefault(key, click)
                while len(self._clicks) > KEPT_CLICKS:
                    self._clicks.popitem(last=False)
        return click

    def _build(
        self,
        src: PhotoSource,
        session: QuerySession,
        book: Codebook,
        settings: DescribeSettings,
        point: tuple[float, float] | None,
    ) -> Click:
        q = session.query
        size = q.original_size
        drawn: Box | None = tuple(q.box)
        if drawn == (0.0, 0.0, float(size[0]), float(size[1])):
            drawn = None
        if point is not None:
            problem = click_problem(point, drawn, size)
            if problem is not None:
                return Click(None, problem)
        self.targets_built += 1
        if point is None:
            return Click(box_target(src, q.code, drawn, size))
        return Click(click_target(src, point, book, settings))

    def _new(
        self,
        session: QuerySession,
        click: Click,
        ids: list[int],
        should_stop: Callable[[], bool] | None,
        on_location: Callable[[Location], None] | None,
    ) -> list[Location]:
        """Locations of photos not asked for before with this click."""
        evidence = session.evidence
        checks = evidence.of(ids)
        rows = {i: evidence.row(i) for i in ids}
        known = [i for i in ids if rows[i] is not None]
        if click.target is None:
            out = [
                Location(i, rows[i].display_path, None, None, None, 0.0, click.problem)
                for i in known
            ]
            for loc in out:
                if on_location is not None:
                    on_location(loc)
            return out
        described = [i for i in known if rows[i].width and rows[i].height]
        codes = self.store.codes.local_codes_for(evidence.codebook, described)
        candidates = [
            Candidate(
                i,
                rows[i].display_path,
                os.fsdecode(rows[i].path),
                (float(rows[i].width), float(rows[i].height)),
                checks[i],
                codes.get(i),
            )
            for i in described
        ]
        out = locate_all(click.target, candidates, self.photos, should_stop, on_location)
        missing = [i for i in known if i not in set(described)]
        out += [not_found(i, rows[i].display_path, _why_not_described(rows[i])) for i in missing]
        return out


def _why_not_described(row) -> str:
    """Why a library photo has no features to look in: indexing failed on it (its reason),
    or it waits for indexing."""
    if row.status == FAILED:
        return f"cannot read: {row.error}" if row.error else "indexing failed on it"
    return "not described yet"
