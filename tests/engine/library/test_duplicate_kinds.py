"""Every kind of copy is found, and what is not a copy is not (issue 27): one small library
of a real sample photo with its copies of each kind, two shots sharing a background, a
smooth picture with its resized copy and another smooth picture; real SQLite, FAISS, SIFT."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from engine.library import Library
from engine.library.query.duplicates import DuplicateGroups, near_identity
from resources import sample_photos

KINDS = ("resize", "recompress", "crop", "rotate", "exif", "colour", "watermark")


def _sample(name: str) -> Image.Image:
    return Image.open(next(p for p in sample_photos() if p.name == name)).convert("RGB")


def _copies(photo: Image.Image, folder) -> None:
    """``photo.jpg`` and one copy of it of each kind."""
    w, h = photo.size
    photo.save(folder / "photo.jpg", quality=92)
    photo.resize((w * 3 // 5, h * 3 // 5), Image.LANCZOS).save(folder / "resize.jpg", quality=88)
    photo.save(folder / "recompress.jpg", quality=30)
    photo.crop((w // 20, h // 10, w - w // 20, h - h // 20)).save(folder / "crop.jpg", quality=90)
    photo.transpose(Image.Transpose.ROTATE_90).save(folder / "rotate.jpg", quality=92)
    # stored sideways; the EXIF orientation 6 turns it upright when read
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.transpose(Image.Transpose.ROTATE_90).save(
        folder / "exif.jpg", quality=92, exif=exif.tobytes()
    )
    x = np.asarray(photo, np.float32) / 255
    x = x**1.4
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * 0.5
    Image.fromarray((x * 255).astype(np.uint8)).save(folder / "colour.jpg", quality=90)
    marked = photo.copy()
    draw = ImageDraw.Draw(marked)
    draw.text((10, h - 30), "(c) Photo Studio 2024", fill=(255, 255, 255))
    logo = Image.new("RGB", photo.size, (255, 255, 255))
    mask = Image.new("L", photo.size, 0)
    ImageDraw.Draw(mask).ellipse((w - 120, 20, w - 40, 100), fill=90)
    marked.paste(logo, (0, 0), mask)
    marked.save(folder / "watermark.jpg", quality=90)


def _shared_background(folder) -> None:
    """Two shots of one background, each with a different object in front (a third of it)."""
    bg = _sample("obj05_0.jpg")
    w, h = bg.size
    for name, src, at in (
        ("front_a", "obj04_1.jpg", (40, 60)),
        ("front_b", "obj02_0.jpg", (300, 150)),
    ):
        obj = _sample(src).resize((w * 3 // 5, h * 3 // 5))
        shot = bg.copy()
        shot.paste(obj, at)
        shot.save(folder / f"{name}.jpg", quality=90)


def _smooth(folder) -> None:
    """A smooth picture (a long motion blur: few local features), a resized copy of it, and
    another smooth picture of the same photo with a soft blob added (not a copy)."""
    src = _sample("obj01_0.jpg")
    img = src.filter(ImageFilter.BoxBlur(25)).filter(ImageFilter.GaussianBlur(6))
    img.save(folder / "smooth.jpg", quality=92)
    img.resize((img.width // 2, img.height // 2), Image.LANCZOS).save(
        folder / "smooth_small.jpg", quality=90
    )
    other = img.copy()
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).ellipse((200, 120, 420, 340), fill=255)
    other.paste(
        Image.new("RGB", img.size, (250, 240, 200)),
        (0, 0),
        mask.filter(ImageFilter.GaussianBlur(30)),
    )
    other.save(folder / "smooth_other.jpg", quality=92)


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    """The library's groups (copies and similar shots), by file name."""
    root = tmp_path_factory.mktemp("dup-kinds")
    folder = root / "photos"
    folder.mkdir()
    _copies(_sample("obj03_0.jpg"), folder)
    _shared_background(folder)
    _smooth(folder)
    with Library(root / "lib", device="cpu") as lib:
        lib.index([folder], vectors=False)
        groups = lib.duplicates(similar=True)
    assert isinstance(groups, DuplicateGroups) and not groups.stopped
    return folder, [(g.kind, {os.path.basename(h.path) for h in g}, g) for g in groups]


def _copies_of(found, name: str) -> set[str]:
    return next((names for kind, names, _ in found if kind == "copies" and name in names), set())


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_copy_joins_its_photo(found, kind):
    _, found = found
    assert f"{kind}.jpg" in _copies_of(found, "photo.jpg")


def test_the_photos_group_holds_its_copies_and_nothing_else(found):
    _, found = found
    assert _copies_of(found, "photo.jpg") == {"photo.jpg", *(f"{k}.jpg" for k in KINDS)}


def test_the_sideways_copy_is_stored_sideways_and_read_upright(found):
    """The EXIF case is real: the file's pixels are portrait, the photo is landscape."""
    folder, found = found
    with Image.open(folder / "exif.jpg") as im:
        assert im.height > im.width and im.getexif()[0x0112] == 6
    group = next(g for kind, names, g in found if kind == "copies" and "exif.jpg" in names)
    member = next(h for h in group if h.path.endswith("exif.jpg"))
    assert member.width > member.height


def test_two_shots_sharing_a_background_are_not_copies(found):
    _, found = found
    assert not _copies_of(found, "front_a.jpg") & {"front_b.jpg"}
    assert not _copies_of(found, "front_b.jpg")


def test_a_smooth_picture_and_its_resized_copy_are_copies_by_the_global_signal(found):
    _, found = found
    group = next(g for kind, names, g in found if kind == "copies" and "smooth.jpg" in names)
    assert {os.path.basename(h.path) for h in group} == {"smooth.jpg", "smooth_small.jpg"}
    assert [p.how for p in group.pairs] == ["global"]


def test_similar_shots_never_share_a_group_with_copies(found):
    _, found = found
    for kind, names, _ in found:
        if kind == "similar":
            assert names != _copies_of(found, next(iter(names)))


@pytest.mark.parametrize(
    ("degrees", "mirror", "shear", "expected"),
    [
        (0, False, 0.0, True),
        (5, False, 0.0, True),
        (90, False, 0.0, True),
        (180, False, 0.0, True),
        (270, False, 0.0, True),
        (87, False, 0.0, True),
        (30, False, 0.0, False),
        (45, False, 0.0, False),
        (0, True, 0.0, False),
        (0, False, 0.4, False),
    ],
)
def test_near_identity_accepts_quarter_turns_only(degrees, mirror, shear, expected):
    t = math.radians(degrees)
    a = 0.7 * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    a = a @ np.array([[1.0, shear], [0.0, 1.0]])
    if mirror:
        a = a @ np.diag([-1.0, 1.0])
    H = np.eye(3)
    H[:2, :2] = a
    H[:2, 2] = (100, 50)
    assert near_identity(H, (640, 480)) is expected


def test_progress_names_each_stage_and_stopping_keeps_the_pairs_checked(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    _copies(_sample("obj03_0.jpg"), folder)
    with Library(tmp_path / "lib", device="cpu") as lib:
        lib.index([folder], vectors=False)
        reports: list[tuple[int, int, str]] = []
        full = lib.duplicates(progress=lambda *r: reports.append(r))
        stages = [m.split(":")[0] for _, _, m in reports]
        after_reading = [m for m in stages if m != "reading visual words"]
        assert after_reading[0] == "comparing perceptual hashes"
        assert {"finding candidate pairs", "checking pairs"} <= set(stages)
        assert [d for d, _, _ in reports] == sorted(d for d, _, _ in reports)
        assert reports[-1][:2] == (1000, 1000) and not full.stopped
        calls = []

        def stop_after_two_pairs() -> bool:
            # asked once for the one block of hashes, once per photo, once between stages,
            # then once per pair
            calls.append(1)
            return len(calls) > 1 + len(os.listdir(folder)) + 1 + 2

        part = lib.duplicates(should_stop=stop_after_two_pairs)
    assert part.stopped and part.checked == 2 < part.candidates == full.candidates
    whole = [{h.path for h in g} for g in full]
    assert all(any({h.path for h in g} <= w for w in whole) for g in part)


def test_rebuilding_the_visual_words_index_is_reported(tmp_path):
    """The inverted file is rebuilt from SQLite when its file is gone: a long step on a large
    library, so it reports what it does, how far and at what rate, before the pairs."""
    folder = tmp_path / "photos"
    folder.mkdir()
    _copies(_sample("obj03_0.jpg"), folder)
    with Library(tmp_path / "lib", device="cpu") as lib:
        lib.index([folder], vectors=False)
        n = len(os.listdir(folder))
    for f in (tmp_path / "lib" / "index").glob("local-*"):
        f.unlink()
    with Library(tmp_path / "lib", device="cpu") as lib:
        reports: list[tuple[int, int, str]] = []
        lib.duplicates(progress=lambda *r: reports.append(r))
    first = reports[0][2]
    assert first.startswith(f"reading visual words: {n}/{n} photos"), first
    assert "measuring the rate" in first or "photos/s" in first  # this run's rate
    assert reports[0][0] <= 50  # the first twentieth of the bar
    assert [m.split(":")[0] for _, _, m in reports][1] == "comparing perceptual hashes"


def test_a_smooth_copy_whose_few_features_find_a_poor_transform_is_judged_globally(
    tmp_path, monkeypatch
):
    """The features of a smooth picture and its resized copy verify, but on a sheared
    transform (not a copy's): with close hashes, the global signal still finds the copy."""
    from types import SimpleNamespace

    from engine.library.query import copies
    from engine.match.verify import Verification

    _smooth(tmp_path)
    rows = {}
    for i, name in enumerate(("smooth_small.jpg", "smooth.jpg"), 1):
        with Image.open(tmp_path / name) as im:
            rows[i] = SimpleNamespace(width=im.width, height=im.height)
        rows[i].display_path = str(tmp_path / name)
    sheared = np.array([[2.0, 0.6, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    monkeypatch.setattr(copies, "verify_codes", lambda *a: Verification(40, 60, True, sheared))
    judge = copies.Judge(rows, copies.MIN_RATIO)
    codes = [0] * 100  # only their number is read before the (replaced) verifier
    assert judge(1, 2, codes, codes, None).kind == "similar"  # hashes far: geometry decides
    verdict = judge(1, 2, codes, codes, 4)
    assert verdict.kind == "copies" and verdict.pair.how == "global"


def test_cover_is_the_share_of_each_photo_the_other_covers():
    from engine.library.query.copies import MIN_COVER, _cover

    def shift(s: float, dx: float, dy: float) -> np.ndarray:
        return np.array([[s, 0, dx], [0, s, dy], [0, 0, 1]], float)

    assert _cover(shift(1, 0, 0), (640, 480), (640, 480)) == pytest.approx(1.0)
    assert _cover(shift(2, 0, 0), (320, 240), (640, 480)) == pytest.approx(1.0)  # resized
    crop = _cover(shift(1, 32, 24), (576, 432), (640, 480))  # a crop keeping 0.81 of it
    assert crop == pytest.approx(0.81) and crop >= MIN_COVER
    # a photo pasted at half its size into another: all of it inside, a quarter of the other
    assert _cover(shift(0.5, 100, 50), (640, 480), (640, 480)) == pytest.approx(0.25)
    assert _cover(shift(1, 320, 0), (640, 480), (640, 480)) == pytest.approx(0.5)  # half off


def test_a_picture_holding_another_photo_small_is_not_its_copy(tmp_path):
    """A photo pasted at half size into another picture matches that photo all over (a
    transform close to a similarity, the same content where they overlap), yet it is a
    different picture: the pasted photo covers a quarter of it."""
    folder = tmp_path / "photos"
    folder.mkdir()
    photo = _sample("obj03_0.jpg")
    w, h = photo.size
    photo.save(folder / "photo.jpg", quality=92)
    holder = _sample("obj05_1.jpg").resize((w, h))
    holder.paste(photo.resize((w // 2, h // 2), Image.LANCZOS), (w // 5, h // 4))
    holder.save(folder / "holder.jpg", quality=92)
    photo.resize((w * 3 // 5, h * 3 // 5), Image.LANCZOS).save(folder / "resize.jpg", quality=88)
    with Library(tmp_path / "lib", device="cpu") as lib:
        lib.index([folder], vectors=False)
        groups = lib.duplicates()
    copies = [{os.path.basename(h.path) for h in g} for g in groups if g.kind == "copies"]
    assert {"photo.jpg", "resize.jpg"} in copies  # the copy is still found
    assert not any("holder.jpg" in g for g in copies), copies
