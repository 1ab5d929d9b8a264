"""Click-to-localize through the library (real SQLite, real files, real photo pixels): one
path for the window, the command line and the API; a click is built once and asked again for
nothing; a click outside the photo or the drawn box is answered in words."""

from __future__ import annotations

import json

import pytest

from engine.cli import main
from engine.library import Library
from engine.library.query import outlines as outlines_mod
from engine.library.query import session as session_mod
from engine.match import localize as localize_mod
from engine.photo.drawing import box_iou
from tests.helpers import MODEL
from tests.pasted import pasted_photos

MIN_IOU = 0.6


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A library of the pasted photos (the query kept outside it)."""
    root = tmp_path_factory.mktemp("locate")
    pasted = pasted_photos(root / "photos")
    pasted.query = pasted.query.rename(root / "query.jpg")
    lib = Library(root / "lib", device="cpu")
    lib.index([root / "photos"], model=MODEL)
    yield lib, pasted
    lib.close()


def _ids(lib, paths):
    return [lib.store.files.file_by_path(p).id for p in paths]


@pytest.mark.parametrize("mode", ["click", "box"])
def test_the_command_line_and_the_library_give_the_same_outline(indexed, capsys, mode):
    lib, pasted = indexed
    photos = [p for p, _ in pasted.holding] + pasted.without
    where = {"point": pasted.point} if mode == "click" else {"box": pasted.box}
    lib.search(pasted.query, box=where.get("box"), k=5, model=MODEL)  # as the window does
    located = lib.locate(pasted.query, _ids(lib, photos), model=MODEL, **where)
    for loc, (_, truth) in zip(located, pasted.holding, strict=False):
        assert loc.found and box_iou(loc.box, truth) >= MIN_IOU, loc.reason
    assert not any(loc.found for loc in located[len(pasted.holding) :])
    flag = ["--point", "{},{}".format(*pasted.point)] if mode == "click" else []
    flag = flag or ["--box", ",".join(str(v) for v in pasted.box)]
    for extra in ([], ["--library", str(lib.dir), "--model", MODEL]):
        cmd = ["localize", str(pasted.query), *map(str, photos), *flag, "--json", *extra]
        assert main(cmd) == 0
        out = json.loads(capsys.readouterr().out)["results"]
        assert [r["path"] for r in out] == [str(p) for p in photos]
        for r, loc in zip(out, located, strict=True):
            assert r["found"] == loc.found and r["method"] == loc.method
            assert r["polygon"] == loc.polygon and r["reason"] == loc.reason
    assert main(["localize", str(pasted.query), str(photos[0]), *flag]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{photos[0]}: found (") and "polygon [[" in text


def test_a_second_locate_for_the_same_click_makes_nothing_new(indexed, monkeypatch):
    lib, pasted = indexed
    ids = _ids(lib, [p for p, _ in pasted.holding] + pasted.without)
    counts = {"target": 0, "describe": 0, "fit": 0, "verify": 0}

    def counting(name, fn):
        def wrapped(*a, **k):
            counts[name] += 1
            return fn(*a, **k)

        return wrapped

    monkeypatch.setattr(outlines_mod, "click_target", counting("target", outlines_mod.click_target))
    monkeypatch.setattr(
        localize_mod, "local_features", counting("describe", localize_mod.local_features)
    )
    monkeypatch.setattr(localize_mod, "fit", counting("fit", localize_mod.fit))
    monkeypatch.setattr(session_mod, "verify_query", counting("verify", session_mod.verify_query))
    point = (pasted.point[0] + 3, pasted.point[1] - 2)  # a click not asked for before
    first = lib.locate(pasted.query, ids, point=point, model=MODEL)
    assert counts["target"] == 1
    made = dict(counts)
    again = lib.locate(pasted.query, ids, point=point, model=MODEL)
    assert counts == made  # nothing built, described, fitted or verified again
    assert [a is b for a, b in zip(first, again, strict=True)] == [True] * len(ids)
    heard = []
    lib.locate(pasted.query, ids[:2], point=point, model=MODEL, on_location=heard.append)
    assert heard == first[:2] and counts == made


def test_a_photo_that_could_not_be_read_is_asked_again_for_the_same_click(indexed, monkeypatch):
    """A photo unreadable at the first ask (a drive unplugged, a file moved away and back) is
    not kept as the click's answer: the same click reads it the next time. (Stage 2 made to
    meet an unreadable file: these photos are all answered by stage 1.)"""
    lib, pasted = indexed
    ids = _ids(lib, [p for p, _ in pasted.holding] + pasted.without)
    real = outlines_mod.locate_all
    asked = []

    def first_unreadable(target, candidates, *a, **k):
        asked.append([c.file_id for c in candidates])
        if len(asked) > 1:
            return real(target, candidates, *a, **k)
        return [
            localize_mod.not_found(c.file_id, c.path, f"{localize_mod.UNREADABLE}: [Errno 2]")
            for c in candidates
        ]

    monkeypatch.setattr(outlines_mod, "locate_all", first_unreadable)
    point = (pasted.point[0] - 4, pasted.point[1] + 3)  # a click not asked for before
    first = lib.locate(pasted.query, ids, point=point, model=MODEL)
    assert len(first) == len(ids)  # answered, only not kept
    assert all("cannot read the photo again" in loc.reason for loc in first)
    again = lib.locate(pasted.query, ids, point=point, model=MODEL)
    assert sorted(asked[1]) == sorted(ids)  # every unreadable photo asked again
    assert not any("cannot read" in (loc.reason or "") for loc in again)
    assert [loc.found for loc in again] == [True] * len(pasted.holding) + [False] * len(
        pasted.without
    )
    lib.locate(pasted.query, ids, point=point, model=MODEL)
    assert len(asked) == 2  # what was read is kept


def test_a_click_outside_the_photo_or_the_box_is_answered_in_words(indexed):
    lib, pasted = indexed
    ids = _ids(lib, [pasted.holding[0][0], pasted.without[0]])
    outside = lib.locate(pasted.query, ids, point=(-90.45, 356.17), model=MODEL)
    assert [loc.found for loc in outside] == [False, False]
    assert all("is outside the 512x480 query photo" in loc.reason for loc in outside)
    right, top = pasted.box[2], pasted.box[1]
    boxed = lib.locate(pasted.query, ids, box=pasted.box, point=(right + 20, top), model=MODEL)
    assert all("outside the searched box" in loc.reason for loc in boxed)
    inside = lib.locate(pasted.query, ids, box=pasted.box, point=pasted.point, model=MODEL)
    assert [loc.found for loc in inside] == [True, False]
