"""The library notices what changed in its folders (new, changed, moved, deleted photos)
without writing anything, and indexing applies the same comparison: a moved photo keeps its
row and codes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from engine.library import Library
from engine.training.generator import render_scene


def _photo(path: Path, seed: int, size=(96, 72)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img, _ = render_scene([seed % 11], seed=seed, size=size, occlusion=0.0)
    img.save(path, quality=85)


def _names(rows) -> list[str]:
    return sorted(os.path.basename(os.fsdecode(getattr(r, "path", r))) for r in rows)


def test_changes_lists_new_changed_moved_and_deleted_photos(tmp_path):
    photos = tmp_path / "photos"
    for i in range(5):
        _photo(photos / f"p{i}.jpg", i)
    with Library(tmp_path / "lib") as lib:
        lib.index([photos])
        assert not lib.changes() and lib.changes().text() == "no change"
        moved_id = lib.store.files.file_by_path(photos / "p1.jpg").id
        _photo(photos / "new.jpg", 40)  # new
        _photo(photos / "p0.jpg", 41, size=(80, 60))  # changed in place
        (photos / "sub").mkdir()
        shutil.move(photos / "p1.jpg", photos / "sub" / "p1-moved.jpg")  # moved
        (photos / "p2.jpg").unlink()  # deleted
        ch = lib.changes()
        assert ch.counts() == {"new": 1, "changed": 1, "moved": 1, "deleted": 1}
        assert _names(f for f in ch.new) == ["new.jpg"]
        assert _names(f for _, f in ch.changed) == ["p0.jpg"]
        assert [(r.id, os.path.basename(f.path)) for r, f in ch.moved] == [
            (moved_id, b"p1-moved.jpg")
        ]
        assert _names(ch.deleted) == ["p2.jpg"]
        assert ch.text() == "1 new, 1 changed, 1 moved, 1 deleted photos"
        assert lib.changes().counts() == ch.counts()  # nothing was written by looking

        s = lib.index([photos])
        assert (s.indexed, s.moved, s.removed) == (2, 1, 1)
        row = lib.store.files.file_by_path(photos / "sub" / "p1-moved.jpg")
        assert row.id == moved_id  # kept its row, its codes were not made again
        assert not lib.changes()
        res = lib.search(photos / "sub" / "p1-moved.jpg", pipeline="local", exclude_self=False)
        assert res.hits[0].path.endswith("p1-moved.jpg")


def test_a_folder_that_is_gone_is_not_reported_as_deleted_photos(tmp_path):
    """An unplugged drive is not a folder whose photos were all deleted."""
    photos = tmp_path / "photos"
    for i in range(2):
        _photo(photos / f"p{i}.jpg", i)
    with Library(tmp_path / "lib") as lib:
        lib.index([photos])
        photos.rename(tmp_path / "elsewhere")
        assert not lib.changes()


def test_changes_leave_out_excluded_folders_and_stop_when_asked(tmp_path):
    photos = tmp_path / "photos"
    _photo(photos / "p0.jpg", 0)
    with Library(tmp_path / "lib") as lib:
        lib.index([photos])
        _photo(photos / "skip" / "x.jpg", 3)
        assert lib.changes(exclude=[photos / "skip"]).counts()["new"] == 0
        assert lib.changes().counts()["new"] == 1
        for i in range(70):  # enough for the walk to ask should_stop
            (photos / f"e{i}.jpg").write_bytes(b"")
        assert lib.changes(should_stop=lambda: True) is None
