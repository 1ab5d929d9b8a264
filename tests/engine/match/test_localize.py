"""Click-to-localize on real photo pixels: a real cut-out pasted into real photos at known
boxes (``tests/pasted.py``), outlined by a click and by a drawn box, by each stage on its own,
and nowhere in the photos without it (the query's own background among them)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.match import describe, encode, encode_query
from engine.match.codebook import default_codebook
from engine.match.localize import (
    REMATCH,
    WORDS,
    Candidate,
    RedescribedPhotos,
    locate_files,
    rematch_check,
    verdict,
    words_check,
)
from engine.match.target import box_target, click_target, inside_convex
from engine.match.verify import ratio_correspondences
from engine.photo.drawing import box_iou
from tests.pasted import pasted_photos

#: an outline's box must overlap the object's true box at least this much (seen: 0.89-0.93)
MIN_IOU = 0.6


@pytest.fixture(scope="module")
def pasted(tmp_path_factory):
    return pasted_photos(tmp_path_factory.mktemp("pasted"))


@pytest.fixture(scope="module")
def book():
    return default_codebook()


@pytest.mark.parametrize("mode", ["click", "box"])
def test_the_object_is_outlined_where_it_is_and_nowhere_else(pasted, book, mode):
    where = {"point": pasted.point} if mode == "click" else {"box": pasted.box}
    photos = [p for p, _ in pasted.holding] + pasted.without
    locations = locate_files(pasted.query, photos, book, **where)
    assert [loc.path for loc in locations] == [str(p) for p in photos]
    for loc, (_, truth) in zip(locations, pasted.holding, strict=False):
        assert loc.found, loc.reason
        assert box_iou(loc.box, truth) >= MIN_IOU, (loc.path, loc.box, truth)
        assert loc.method in ("evidence", "words", "rematch")
        assert 0 < loc.confidence <= 1 and loc.inliers >= REMATCH.min_inliers
        d = loc.to_dict()
        assert d["found"] and d["method"] == loc.method and len(d["box"]) == 4
    for loc in locations[len(pasted.holding) :]:
        assert not loc.found and loc.polygon is None, loc.path
        assert loc.reason.startswith("not found in this photo ("), loc.reason


def test_each_stage_finds_the_object_alone(pasted, book):
    """The stored words (stage 1) and the photo described again (stage 2) each outline the
    object without the search's evidence, and neither outlines it where it is not."""
    target = click_target(pasted.query, pasted.point, book)
    photos = RedescribedPhotos()
    for path, truth in [*pasted.holding, *((p, None) for p in pasted.without)]:
        d = describe(path)
        code = encode(d.feats, book)
        c = Candidate(0, str(path), str(path), d.original_size, None, code)
        words = verdict(c, target, words_check(target, code, c.size), WORDS)
        again = verdict(
            c, target, rematch_check(target, photos.features(str(path)), c.size), REMATCH
        )
        if truth is None:
            assert isinstance(words, str) and isinstance(again, str), path
            continue
        for loc in (words, again):
            assert not isinstance(loc, str), loc
            assert box_iou(loc.box, truth) >= MIN_IOU
            w, h = d.original_size
            assert inside_convex(np.array([[0, 0], [w, 0], [w, h], [0, h]]), loc.polygon).all()
    assert photos.described == len(pasted.holding) + len(pasted.without)
    photos.features(str(pasted.without[0]))
    assert photos.described == len(pasted.holding) + len(pasted.without)  # kept


def test_the_extent_grows_from_the_click_and_stays_in_the_box(pasted, book):
    clicked = click_target(pasted.query, pasted.point, book)
    assert box_iou(clicked.bbox, pasted.box) >= 0.7
    assert inside_convex(clicked.extent, np.array([pasted.point]))[0]
    d = describe(pasted.query, pasted.box)
    boxed = box_target(pasted.query, encode_query(d.feats, book), pasted.box, d.original_size)
    x0, y0, x1, y1 = pasted.box
    assert (boxed.extent >= [x0 - 1, y0 - 1]).all() and (boxed.extent <= [x1 + 1, y1 + 1]).all()
    assert box_iou(boxed.bbox, pasted.box) >= 0.8 and boxed.searched


def test_a_click_outside_the_photo_or_the_box_is_a_reason(pasted, book):
    photos = [pasted.holding[0][0]]
    (out,) = locate_files(pasted.query, photos, book, point=(-90.45, 356.17))
    assert not out.found and "outside the 512x480 query photo" in out.reason
    right, top = pasted.box[2], pasted.box[1]
    (out,) = locate_files(pasted.query, photos, book, point=(right + 20, top), box=pasted.box)
    assert not out.found and "outside the searched box" in out.reason
    (inside,) = locate_files(pasted.query, photos, book, point=pasted.point, box=pasted.box)
    assert inside.found


def test_ratio_correspondences_keep_distinct_nearest_neighbours():
    rng = np.random.default_rng(0)
    p = rng.random((50, 128)).astype(np.float32)
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    q = p[[3, 7, 7, 20]] + 0.01 * rng.standard_normal((4, 128)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    qi, pi = ratio_correspondences(q, p)
    # feature 3's twin and 20's pass; the two copies of 7 share one photo feature: kept once
    assert set(pi.tolist()) == {3, 7, 20} and len(set(qi.tolist())) == len(qi) == 3
    assert ratio_correspondences(q, p[:1])[0].size == 0  # no second neighbour: no test
