"""Local features in a library: verified matches, "no match", deletions and moves, a damaged
inverted file, geometric localization, duplicates and awkward photos."""

from __future__ import annotations

import io
import shutil
import sqlite3

import numpy as np
import pytest
from PIL import Image

from engine.library import Library
from engine.library.index.inverted import LocalIndex
from engine.network.seed import Localizer
from engine.photo.drawing import box_iou
from engine.training.generator import render_scene
from tests.helpers import MODEL, smooth_photo


def _scene(i: int, objects=None, size=(640, 480)) -> Image.Image:
    return render_scene(objects or [i, 500 + i], seed=i, size=size, occlusion=0.0)[0]


@pytest.fixture(scope="module")
def clutter(tmp_path_factory):
    """A library of 16 generated photos; ``target`` is one of them."""
    root = tmp_path_factory.mktemp("clutter")
    photos = root / "photos"
    photos.mkdir()
    for i in range(16):
        _scene(i).save(photos / f"scene{i:02d}.jpg", quality=90)
    lib = Library(root / "lib", device="cpu")
    lib.index([photos], model=MODEL)
    yield lib, photos, photos / "scene07.jpg"
    lib.close()


def _jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@pytest.mark.parametrize(
    "name, change",
    [
        ("rotated 90°", lambda im: im.rotate(90, expand=True)),
        ("rotated 30°", lambda im: im.rotate(30, expand=True, fillcolor=(127, 127, 127))),
        ("scaled 0.5×", lambda im: im.resize((im.width // 2, im.height // 2))),
        (
            "cropped to 40 %",
            lambda im: im.crop(
                (
                    int(im.width * 0.3),
                    int(im.height * 0.3),
                    int(im.width * 0.7),
                    int(im.height * 0.7),
                )
            ),
        ),
        ("recompressed at quality 40", lambda im: Image.open(io.BytesIO(_jpeg(im, 40)))),
    ],
)
def test_an_altered_copy_ranks_first_and_is_verified(clutter, name, change):
    lib, _, target = clutter
    query = change(Image.open(target).convert("RGB"))
    res = lib.search(_jpeg(query), k=5)
    top = res.hits[0]
    assert top.path == str(target), name
    assert top.verified and top.inliers >= 12 and not res.no_match
    assert top.score >= 0.5 > max(h.score for h in res.hits[1:])
    assert len(top.quad) == 4


def test_a_photo_sharing_nothing_with_the_library_is_no_match(clutter):
    lib, _, _ = clutter
    stranger = _scene(99, objects=[777, 778])
    res = lib.search(_jpeg(stranger), k=5)
    assert res.no_match and res.matches == 0
    assert res.hits and not any(h.verified for h in res.hits)
    assert res.to_dict()["no_match"] is True


def test_blank_tiny_and_huge_photos_are_indexed_or_refused_with_a_reason(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (800, 600), (128, 128, 128)).save(photos / "blank.jpg")
    Image.new("RGB", (6, 5), (10, 200, 30)).save(photos / "tiny.png")
    smooth_photo(6000, 4500).save(photos / "huge.jpg", quality=70)
    (photos / "broken.jpg").write_bytes(b"not a jpeg at all")
    _scene(3).save(photos / "scene.jpg")
    with Library(tmp_path / "lib", device="cpu") as lib:
        s = lib.index([photos], model=MODEL)
        assert s.indexed == 4 and s.failed == 1
        assert [e.display_path.endswith("broken.jpg") for e in lib.errors()] == [True]
        book = lib.codebook().fingerprint
        assert len(lib.store.codes.local_ids(book)) == 4  # blank and tiny have empty codes
        res = lib.search(photos / "scene.jpg", k=3)
        assert res.no_match  # nothing else shows the scene
        blank = lib.search(photos / "blank.jpg", k=3)  # nothing to search with: says so
        assert blank.too_little_detail and blank.hits == [] and not blank.no_match


def test_deleted_photos_never_appear_and_moves_keep_their_codes(tmp_path):
    photos = tmp_path / "photos"
    (photos / "a").mkdir(parents=True)
    for i in range(6):
        _scene(i).save(photos / "a" / f"s{i}.jpg", quality=90)
    with Library(tmp_path / "lib", device="cpu") as lib:
        lib.index([photos], model=MODEL)
        book = lib.codebook().fingerprint
        before = dict(lib.store.codes.iter_local_codes(book))
        gone = photos / "a" / "s2.jpg"
        query = _jpeg(Image.open(gone))
        (photos / "b").mkdir()
        shutil.move(photos / "a" / "s4.jpg", photos / "b" / "moved.jpg")
        gone.unlink()
        s = lib.index([photos], model=MODEL)
        assert s.moved == 1 and s.removed == 1 and s.indexed == 0  # nothing re-extracted
        after = dict(lib.store.codes.iter_local_codes(book))
        moved_id = lib.store.files.file_by_path(photos / "b" / "moved.jpg").id
        assert moved_id in before and after[moved_id].to_bytes() == before[moved_id].to_bytes()
        res = lib.search(query, k=10)
        assert str(gone) not in [h.path for h in res.hits] and res.no_match
        res = lib.search(_jpeg(Image.open(photos / "b" / "moved.jpg")), k=3)
        assert res.hits[0].path == str(photos / "b" / "moved.jpg") and res.hits[0].verified


def test_a_damaged_inverted_file_is_rebuilt_from_sqlite_with_a_reason(clutter, tmp_path):
    lib, _, target = clutter
    book = lib.codebook()
    want = [h.path for h in lib.search(target, k=5).hits]
    npz = LocalIndex.file(lib.index_dir, book.fingerprint).path
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte in the middle
    npz.write_bytes(bytes(data))
    loaded, reason = LocalIndex.load(lib.index_dir, book.fingerprint)
    assert loaded is None and reason == "damaged (checksum mismatch)"
    fresh = Library(lib.dir, device="cpu")
    try:
        li = fresh.local_index()
        assert li.rebuilt and li.reason == "damaged (checksum mismatch)"
        assert [h.path for h in fresh.search(target, k=5).hits] == want
        assert LocalIndex.load(lib.index_dir, book.fingerprint)[1] == "ok"  # saved again
    finally:
        fresh.close()


def test_geometric_localization_beats_the_seed_method(tmp_path):
    """Pairs of generated photos showing one object (known boxes): the query is the box
    in one photo; the result's box is found by ``Library.locate`` (geometry: the network never
    draws an outline) and, for comparison, by the network's seed method alone."""
    photos = tmp_path / "photos"
    photos.mkdir()
    pairs = []
    for i in range(8):
        a, pa = render_scene([40 + i], seed=1000 + i, size=(640, 480), occlusion=0.0)
        b, pb = render_scene([40 + i], seed=2000 + i, size=(640, 480), occlusion=0.0)
        a.save(photos / f"a{i}.jpg", quality=92)
        b.save(photos / f"b{i}.jpg", quality=92)
        pairs.append((photos / f"a{i}.jpg", pa[0].box, photos / f"b{i}.jpg", pb[0].box))
    with Library(tmp_path / "lib", device="cpu") as lib:
        lib.index([photos], model=MODEL)
        seed = Localizer(lib.model(MODEL)[0])
        geo, sd = [], []
        for qa, qbox, rb, rbox in pairs:
            fid = lib.store.files.file_by_path(rb).id
            loc = lib.locate(qa, [fid], box=tuple(qbox))[0]
            geo.append(box_iou(loc.box, rbox) if loc.found else 0.0)
            sd.append(box_iou(seed.localize(qa, rb, box=tuple(qbox)).box, rbox))
    # seen: geometry 0.897 (0.54 before the click's object was outlined by stages), seed 0.064
    print(f"mean IoU: geometry {np.mean(geo):.3f}, seed {np.mean(sd):.3f}")
    assert np.mean(geo) >= 0.7
    assert np.mean(geo) > np.mean(sd) + 0.1


def test_duplicates_are_exactly_the_planted_sets(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(30):
        _scene(100 + i).save(photos / f"u{i:02d}.jpg", quality=90)
    planted = []
    for j, kind in enumerate(("resize", "recompress", "crop")):
        base = _scene(200 + j)
        base.save(photos / f"d{j}_orig.jpg", quality=92)
        if kind == "resize":
            copy = base.resize((base.width * 3 // 5, base.height * 3 // 5))
        elif kind == "crop":
            copy = base.crop((24, 16, base.width - 30, base.height - 20))
        else:
            copy = base
        copy.save(photos / f"d{j}_copy.jpg", quality=35 if kind == "recompress" else 90)
        planted.append({str(photos / f"d{j}_orig.jpg"), str(photos / f"d{j}_copy.jpg")})
    with Library(tmp_path / "lib", device="cpu") as lib:
        lib.index([photos], model=MODEL)
        groups = lib.duplicates()
    found = [{h.path for h in g} for g in groups]
    assert sorted(map(sorted, found)) == sorted(map(sorted, planted))
    for g in groups:
        assert g.pairs and all(p.inliers >= 20 for p in g.pairs)


def test_learning_the_codebook_from_the_library_re_encodes_it(clutter, tmp_path, monkeypatch):
    from engine.library.index import folders as codebook_learning

    lib, _, target = clutter
    copy = tmp_path / "lib"
    shutil.copytree(lib.dir, copy)
    with Library(copy, device="cpu") as small:
        with pytest.raises(Exception, match="needs 200 or more"):
            small.learn_codebook(words=256)
        monkeypatch.setattr(codebook_learning, "MIN_PHOTOS_TO_LEARN", 10)
        shipped = small.codebook().fingerprint
        seen = []
        summary = small.learn_codebook(words=256, progress=lambda d, t, m: seen.append(m))
        book = small.codebook()
        assert book.fingerprint != shipped and book.size == 256 and not summary.cancelled
        assert summary.indexed == 16 and any("local features" in m for m in seen)
        assert small.store.codes.codebook_centroids(book.fingerprint).shape == (256, 128)
        res = small.search(_jpeg(Image.open(target).rotate(90, expand=True)), k=3)
        assert res.hits[0].path == str(target) and res.hits[0].verified
    with Library(copy, device="cpu") as again:  # kept in SQLite: the same codebook reopens
        assert again.codebook().fingerprint == book.fingerprint
    # a library of schema 3 kept the centroids in the codebooks row: opening it moves them
    centroids = book.centroids
    _back_to_schema_3(copy / "library.sqlite3")
    with Library(copy, device="cpu") as migrated:
        assert migrated.codebook().fingerprint == book.fingerprint
        learned = {b["fingerprint"]: b["learned"] for b in migrated.store.codes.codebooks()}
        assert learned == {shipped: False, book.fingerprint: True}
        res = migrated.search(_jpeg(Image.open(target).rotate(90, expand=True)), k=3)
        assert res.hits[0].path == str(target) and res.hits[0].verified
    with sqlite3.connect(copy / "library.sqlite3") as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("4",)
        left = db.execute("SELECT count(*) FROM codebooks WHERE centroids IS NOT NULL")
        assert left.fetchone() == (0,)
        (blob,) = db.execute("SELECT centroids FROM codebook_centroids").fetchone()
    assert np.array_equal(np.frombuffer(blob, np.float32).reshape(-1, 128), centroids)


def _back_to_schema_3(db_path) -> None:
    """Rewrite a library's database as schema 3 stored it: the learned centroids in a column
    of ``codebooks``, no ``codebook_centroids`` table."""
    with sqlite3.connect(db_path) as db:
        db.execute("ALTER TABLE codebooks ADD COLUMN centroids BLOB")
        db.execute(
            "UPDATE codebooks SET centroids = (SELECT centroids FROM codebook_centroids "
            "WHERE codebook_centroids.fingerprint = codebooks.fingerprint)"
        )
        db.execute("DROP TABLE codebook_centroids")
        db.execute("UPDATE meta SET value='3' WHERE key='schema_version'")
