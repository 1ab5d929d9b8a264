"""Library indexing: incremental, moves, removals, models side by side, search, duplicates."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import text

from engine.library import Library
from engine.library.store import LibraryError, Store
from engine.network.extract import Extractor
from tests.helpers import MODEL


def _all_jpgs(root):
    return sorted(str(p) for p in root.rglob("*.jpg"))


def test_index_then_rescan_skips_unchanged_without_decoding(library, photos, monkeypatch):
    s = library.index([photos], model=MODEL, vectors=True)
    assert (s.indexed, s.skipped_unchanged, s.failed) == (12, 0, 0)
    calls = []
    orig = Extractor.prepare
    monkeypatch.setattr(
        Extractor, "prepare", lambda self, *a, **k: calls.append(a) or orig(self, *a, **k)
    )
    s2 = library.index([photos], model=MODEL, vectors=True)
    assert (s2.indexed, s2.skipped_unchanged, s2.moved, s2.removed) == (0, 12, 0, 0)
    assert calls == []


def test_changed_file_is_reindexed(library, photos):
    library.index([photos], model=MODEL, vectors=True)
    _, row = library.model(MODEL)
    target = photos / "trips" / "obj0_0.jpg"
    fid = library.store.files.file_by_path(target).id
    before = library.store.vectors.vectors_for(row.id, [fid])[fid].copy()
    Image.open(photos / "home" / "obj3_2.jpg").save(target, quality=80)
    os.utime(target, ns=(1, 1_000_000_000))
    s = library.index([photos], model=MODEL, vectors=True)
    assert (s.indexed, s.skipped_unchanged) == (1, 11)
    after = library.store.vectors.vectors_for(row.id, [fid])[fid]
    assert not np.allclose(before, after)


def test_moved_file_keeps_its_descriptor(library, photos, monkeypatch):
    library.index([photos], model=MODEL, vectors=True)
    _, row = library.model(MODEL)
    old = photos / "trips" / "obj1_0.jpg"
    fid = library.store.files.file_by_path(old).id
    vec = library.store.vectors.vectors_for(row.id, [fid])[fid].copy()
    new = photos / "home" / "renamed.jpg"
    shutil.move(old, new)
    calls = []
    orig = Extractor.prepare
    monkeypatch.setattr(
        Extractor, "prepare", lambda self, *a, **k: calls.append(a) or orig(self, *a, **k)
    )
    s = library.index([photos], model=MODEL, vectors=True)
    assert (s.moved, s.indexed, s.removed) == (1, 0, 0)
    assert calls == []
    moved = library.store.files.file_by_path(new)
    assert moved.id == fid and library.store.files.file_by_path(old) is None
    assert np.array_equal(library.store.vectors.vectors_for(row.id, [fid])[fid], vec)


def test_deleted_file_leaves_the_index(library, photos):
    library.index([photos], model=MODEL, vectors=True)
    gone = photos / "trips" / "obj2_1.jpg"
    gone.unlink()
    s = library.index([photos], model=MODEL, vectors=True)
    assert s.removed == 1
    res = library.search(photos / "trips" / "obj2_0.jpg", k=50)
    assert str(gone) not in [h.path for h in res.hits]
    assert len(res.hits) == 10  # 11 left, minus the query itself
    with library.store.db.connect() as c:
        orphans = c.execute(
            text(
                "SELECT count(*) FROM vectors v LEFT JOIN files f ON f.id = v.file_id "
                "WHERE f.id IS NULL"
            )
        ).scalar_one()
    assert orphans == 0


def test_two_models_keep_their_own_vectors(library, photos):
    library.index([photos], model=MODEL, vectors=True)
    library.index([photos], model="cider:resnet18", vectors=True)
    models = {m.spec: m for m in library.store.models.all()}
    assert set(models) == {MODEL, "cider:resnet18"}
    for m in models.values():
        assert library.store.vectors.count_vectors(m.id) == 12
    assert library.current_model_spec() == "cider:resnet18"
    a = library.search(photos / "home" / "obj0_2.jpg", model=MODEL, k=3)
    b = library.search(photos / "home" / "obj0_2.jpg", model="cider:resnet18", k=3)
    assert a.model == MODEL and b.model == "cider:resnet18"
    assert len(a.descriptor) == len(b.descriptor) == 512


def test_search_excludes_self_restricts_folder_and_takes_boxes(library, photos):
    library.index([photos], model=MODEL, vectors=True)
    q = photos / "home" / "obj1_2.jpg"
    shutil.copy(q, photos / "trips" / "copy_of_obj1_2.jpg")
    library.index([photos], model=MODEL, vectors=True)
    res = library.search(q, k=5)
    assert res.excluded_self and str(q) not in [h.path for h in res.hits]
    assert res.hits[0].path.endswith("copy_of_obj1_2.jpg")
    top = res.hits[0]
    assert top.verified and top.global_score == pytest.approx(1.0, abs=1e-4)
    assert top.score > 0.5 > max(h.score for h in res.hits if not h.verified)
    scores = [h.score for h in res.hits]
    assert scores == sorted(scores, reverse=True)
    only_home = library.search(q, k=20, folder=photos / "home")
    assert only_home.hits and all("/home/" in h.path for h in only_home.hits)
    boxed = library.search(q, k=5, box=(10, 10, 90, 70))
    assert boxed.box == (10.0, 10.0, 90.0, 70.0)
    assert boxed.hits and not np.allclose(boxed.descriptor, res.descriptor)
    # a region of a photo finds the object elsewhere, never the photo the box was drawn on
    assert boxed.excluded_self and str(q) not in [h.path for h in boxed.hits]
    from_bytes = library.search(q.read_bytes(), k=5)
    # bytes cannot name the file, so the query itself ranks along with its exact copy
    assert {h.path for h in from_bytes.hits[:2]} == {str(q), res.hits[0].path}
    from_pil = library.search(Image.open(q), k=5)
    assert np.allclose(from_pil.descriptor, from_bytes.descriptor, atol=1e-6)


def test_near_duplicate_groups(library, photos):
    a = photos / "home" / "obj2_2.jpg"
    Image.open(a).save(photos / "trips" / "recompressed.jpg", quality=60)
    library.index([photos], model=MODEL, vectors=True)
    groups = library.duplicates()
    paths = [{h.path for h in g} for g in groups]
    assert {str(a), str(photos / "trips" / "recompressed.jpg")} in paths


def test_shots_from_one_spot_where_something_moved_are_not_duplicates(library, tmp_path):
    """Two photos with the same background (a fixed camera) and a different object in front
    match with an identity transform, like a copy; they are still different photos."""
    from engine.training.generator import render_scene

    folder = tmp_path / "burst"
    folder.mkdir()
    kw = {"size": (480, 360), "scale": (0.5, 0.7)}
    for ident in (1, 2, 3):
        render_scene([ident], seed=7, **kw)[0].save(folder / f"shot{ident}.jpg", quality=90)
    Image.open(folder / "shot1.jpg").resize((360, 270)).save(folder / "copy.jpg", quality=70)
    library.index([folder], model=MODEL, vectors=True)
    groups = [{os.path.basename(h.path) for h in g} for g in library.duplicates()]
    assert groups == [{"shot1.jpg", "copy.jpg"}]


def test_nested_folders_are_not_indexed_twice(library, photos):
    library.index([photos / "trips"], model=MODEL, vectors=True)
    s = library.index([photos], model=MODEL, vectors=True)  # the parent absorbs the child folder
    assert [p for _, p in library.store.files.folders()] == [os.fsencode(photos)]
    assert s.indexed == 4 and s.skipped_unchanged == 8
    s2 = library.index([photos / "home"], model=MODEL, vectors=True)
    assert s2.indexed == 0 and "already indexed" in s2.problems[0]


def test_forget_folder(library, photos):
    library.index([photos], model=MODEL, vectors=True)
    assert library.forget(photos) == (1, 12)
    assert library.status()["files"] == {"indexed": 0, "pending": 0, "failed": 0}
    assert library.search(photos / "home" / "obj0_2.jpg").hits == []


def test_status_counts(library, photos):
    (photos / "home" / "bad.jpg").write_text("nope")
    library.index([photos], model=MODEL, vectors=True)
    st = library.status()
    assert st["files"] == {"indexed": 12, "pending": 0, "failed": 1}
    assert st["folders"][0]["failed"] == 1 and st["folders"][0]["exists"]
    assert st["models"][0]["vectors"] == 12 and st["models"][0]["index"] == "flat"
    assert st["models"][0]["index_current"]
    assert st["bytes"]["database"] > 0 and st["bytes"]["index"] > 0


def test_cancel_keeps_what_was_committed_and_resumes(library, photos):
    from engine.library.index import indexer

    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    old = indexer.COMMIT_EVERY
    indexer.COMMIT_EVERY = 1
    try:
        s = library.index([photos], model=MODEL, vectors=True, should_stop=stop)
    finally:
        indexer.COMMIT_EVERY = old
    assert s.cancelled and 0 < s.indexed < 12
    s2 = library.index([photos], model=MODEL, vectors=True)
    assert s2.indexed == 12 - s.indexed and not s2.cancelled
    _, row = library.model(MODEL)
    assert library.store.vectors.count_vectors(row.id) == 12


def test_progress_reports_rate_and_eta(library, photos):
    seen = []
    library.index(
        [photos], model=MODEL, vectors=True, progress=lambda d, t, m: seen.append((d, t, m))
    )
    assert seen[-1] == (0, 0, "saving the search index")  # the caches, written last
    work = [x for x in seen if x[1] == 12]
    assert work[0] == (0, 12, "indexing: 12 photos to describe, starting")
    assert work[-1][:2] == (12, 12)
    last = work[-1][2]  # this run's measured rate (a run shorter than 2 s is still measuring)
    assert ("photos/s" in last and " left" in last) or last == "indexing: measuring the rate"


def test_newer_or_foreign_database_refused(tmp_path):
    lib = Library(tmp_path / "lib")
    with lib.store.db.begin() as c:
        c.execute(text("UPDATE meta SET value='99' WHERE key='schema_version'"))
    lib.close()
    with pytest.raises(LibraryError, match="newer visual-search"):
        Store(tmp_path / "lib")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "library.sqlite3").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LibraryError, match="not a usable library"):
        Store(tmp_path / "junk")


def test_index_refuses_missing_folder(library, tmp_path):
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        library.index([tmp_path / "nowhere"], model=MODEL, vectors=True)


def test_excluded_folders_are_left_out(library, photos):
    s = library.index([photos], model=MODEL, vectors=True, exclude=[photos / "trips"])
    assert s.indexed == 4
    library.index([photos], model=MODEL, vectors=True)
    s2 = library.index([photos], model=MODEL, vectors=True, exclude=[photos / "trips"])
    assert s2.removed == 8 and library.status()["files"]["indexed"] == 4


def test_rerank_verifies_a_longer_shortlist_than_it_returns(library, photos):
    library.index([photos], model=MODEL, vectors=True)
    q = photos / "home" / "obj1_2.jpg"
    rr = library.search(q, k=3, rerank=11, pipeline="global")
    evidence = library.session(q).evidence
    assert evidence.verifications == 11  # the whole shortlist was verified ...
    assert len(rr.hits) == 3  # ... and the best three returned
    verified = [h for h in rr.hits if h.verified]
    assert rr.hits[: len(verified)] == sorted(verified, key=lambda h: -h.inliers)
    fused = library.search(q, k=3, verify=7)
    assert fused.pipeline == "fused" and library.session(q).evidence is evidence
    # the fused shortlist's photos that the first search checked are not checked again
    assert 11 <= evidence.verifications <= 18 and evidence.verifications == len(evidence.checks)
