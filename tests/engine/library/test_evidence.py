"""Match evidence is computed once: a search describes its query once and verifies each photo
once; the next page, the "where it matched" points, the compare view and the outlines read
that evidence. And the one verifier gives search, evaluate and duplicates one verdict."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluation.pipeline import DescribedCache
from engine.library import Library
from engine.library.query import session as session_mod
from engine.match import verify_codes, verify_query
from engine.training.generator import render_scene
from tests.helpers import MODEL


@pytest.fixture
def counted(monkeypatch):
    """Counts of query descriptions and of verifications made by library sessions."""
    counts = {"describe": 0, "verify": 0}
    describe, verify = session_mod.describe_query, session_mod.verify_query

    def counting_describe(*a, **k):
        counts["describe"] += 1
        return describe(*a, **k)

    def counting_verify(*a, **k):
        counts["verify"] += 1
        return verify(*a, **k)

    monkeypatch.setattr(session_mod, "describe_query", counting_describe)
    monkeypatch.setattr(session_mod, "verify_query", counting_verify)
    return counts


def test_a_photo_verified_for_a_query_is_never_verified_again(library, tmp_path, counted):
    photos = _scene_pair_files(tmp_path, fillers=6)
    library.index([photos], model=MODEL)
    q = photos / "a.jpg"
    first = library.search(q, k=4, verify=4, model=MODEL)
    assert counted == {"describe": 1, "verify": 4}
    verified = [h for h in first.hits if h.verified]
    assert verified and all(h.evidence is not None and h.evidence.verified for h in verified)
    # what the window asks next: where it matched, the compare view, outlines, a click
    for h in first.hits:
        v = library.evidence(q, h.file_id, model=MODEL)
        assert v is h.evidence or h.evidence is None
    ids = [h.file_id for h in first.hits]
    boxes = library.locate(q, ids, model=MODEL)
    assert [loc.found for loc in boxes] == [h.verified for h in first.hits]
    library.locate(q, ids, point=(64.0, 48.0), model=MODEL)
    assert counted == {"describe": 1, "verify": 4}
    # the next page checks only the photos it adds
    more = library.search(q, k=8, verify=8, model=MODEL)
    assert counted["describe"] == 1 and counted["verify"] == 8
    assert {h.file_id for h in first.hits if h.verified} <= {h.file_id for h in more.hits}
    # a changed library is checked again: its codes may have changed
    (photos / "filler0.jpg").unlink()
    library.index([photos], model=MODEL)
    library.search(q, k=4, verify=4, model=MODEL)
    assert counted["describe"] == 2 and counted["verify"] == 12


def _scene_pair_files(tmp_path, fillers: int = 0):
    """A photo, a resized recompressed copy of it, another view of its object, a photo of
    another object, and ``fillers`` photos of yet other objects."""
    folder = tmp_path / "pairs"
    folder.mkdir()
    kw = dict(size=(480, 360), occlusion=0, scale=(0.55, 0.7), max_rotation=10)
    a, _ = render_scene([7], seed=1, **kw)
    a.save(folder / "a.jpg", quality=92)
    a.resize((384, 288)).save(folder / "copy.jpg", quality=70)
    render_scene([7], seed=2, **kw)[0].save(folder / "view.jpg", quality=92)
    render_scene([8], seed=3, **kw)[0].save(folder / "other.jpg", quality=92)
    for i in range(fillers):
        render_scene([20 + i], seed=10 + i, **kw)[0].save(folder / f"filler{i}.jpg", quality=90)
    return folder


def test_search_evaluate_and_duplicates_reach_the_same_verdict(tmp_path):
    folder = _scene_pair_files(tmp_path)
    with Library(tmp_path / "lib", device="cpu") as lib:
        lib.index([folder], model=MODEL)
        res = lib.search(folder / "a.jpg", k=5, model=MODEL)
        by_name = {h.path.rsplit("/", 1)[-1]: h for h in res.hits}
        search = {name: by_name[name].verified for name in ("copy.jpg", "other.jpg")}
        # evaluate (and the audit) describe photos outside a library and call the verifier
        cache = DescribedCache(lib.codebook())
        query, region = cache.query(folder / "a.jpg")
        evaluate = {
            name: verify_query(query, region, *cache.photo(folder / name)).verified
            for name in ("copy.jpg", "other.jpg")
        }
        # duplicates verify two stored codes against each other
        rows = {r.display_path.rsplit("/", 1)[-1]: r for r in lib.store.files.ok_files()}
        codes = lib.store.codes.local_codes_for(
            lib.codebook().fingerprint, [r.id for r in rows.values()]
        )

        def stored(name):
            r = rows[name]
            return codes[r.id], (r.width, r.height)

        duplicates = {
            name: verify_codes(*stored(name), *stored("a.jpg")).verified
            for name in ("copy.jpg", "other.jpg")
        }
        assert search == evaluate == duplicates == {"copy.jpg": True, "other.jpg": False}
        assert [g for g in lib.duplicates() if len(g) == 2]  # the copy is a duplicate too
        assert np.isfinite(by_name["copy.jpg"].score)
