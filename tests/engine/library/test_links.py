"""Symbolic and hard links, made for real: the walk follows a link only where it stays inside
the indexed folders (or where the folder follows links), loops end, and near-duplicates treat
every path to one file as one photo that never loses its last copy to the trash."""

from __future__ import annotations

import os
import sqlite3

import pytest

from engine.library import Library
from engine.library.index.scan import walk
from engine.training.generator import render_scene
from tests.helpers import MODEL


def _scene(i: int, size=(480, 360)):
    return render_scene([i, 500 + i], seed=i, size=size, occlusion=0.0)[0]


def _photo_and_copy(i: int, photo, copy) -> None:
    """A photo and a smaller re-encoded copy of it: a near-duplicate pair."""
    img = _scene(i)
    img.save(photo, quality=92)
    img.resize((img.width * 3 // 4, img.height * 3 // 4)).save(copy, quality=80)


@pytest.fixture
def linked(tmp_path):
    """``photos`` (indexed) holds a photo, its copy and three links to the photo (a relative
    symbolic link, a hard link, a link to a link); a second photo with only a link to it; a
    link to an ``outside`` folder whose photo has a copy inside; and two link loops."""
    photos, outside = tmp_path / "photos", tmp_path / "outside"
    (photos / "sub").mkdir(parents=True)
    outside.mkdir()
    _photo_and_copy(1, photos / "a.jpg", photos / "b.jpg")
    os.symlink("a.jpg", photos / "a_link.jpg")
    os.symlink("a_link.jpg", photos / "a_link2.jpg")
    os.link(photos / "a.jpg", photos / "sub" / "a_hard.jpg")
    _scene(2).save(photos / "solo.jpg", quality=90)
    os.symlink(photos / "solo.jpg", photos / "solo_link.jpg")
    _photo_and_copy(3, outside / "c.jpg", photos / "c_copy.jpg")
    os.symlink(outside, photos / "ext")
    os.symlink(outside / "c.jpg", photos / "c_file_link.jpg")
    os.symlink(".", photos / "sub" / "loop")  # inside: entered once
    os.symlink(photos, outside / "back")  # outside, back in: a loop through two folders
    return photos, outside


def test_the_walk_skips_links_that_lead_outside_and_ends_on_loops(linked):
    from engine.library.index.scan import Scope

    photos, outside = linked
    root = os.fsencode(photos)
    problems = []
    found = {os.fsdecode(e.path) for e in walk(root, problems, Scope((), [root]))}
    names = {os.path.relpath(p, photos) for p in found}
    assert names == {
        "a.jpg",
        "b.jpg",
        "a_link.jpg",
        "a_link2.jpg",
        os.path.join("sub", "a_hard.jpg"),
        "solo.jpg",
        "solo_link.jpg",
        "c_copy.jpg",
    }
    notes = {os.fsdecode(p.path): p.reason for p in problems}
    assert set(notes) == {str(photos / "ext"), str(photos / "c_file_link.jpg")}
    for reason in notes.values():
        assert reason.startswith("skipped: a symbolic link to ") and str(outside) in reason
        assert "--follow-links" in reason and "\n" not in reason
    # following on for the folder: the outside photo comes in, the loops still end
    problems = []
    scope = Scope((), [root], follow=[root])
    found = {os.path.relpath(os.fsdecode(e.path), photos) for e in walk(root, problems, scope)}
    assert {os.path.join("ext", "c.jpg"), "c_file_link.jpg"} <= found
    assert not any("back" in p for p in found) and not problems


def test_links_to_one_file_are_one_photo_and_the_trash_keeps_a_copy(linked, tmp_path):
    photos, _outside = linked
    with Library(tmp_path / "lib", device="cpu") as lib:
        summary = lib.index([photos], model=MODEL)
        groups = lib.duplicates()
    # the photo and its copy: one group of two files, not five paths; solo and its link: none
    assert len(groups) == 1, [[h.path for h in g] for g in groups]
    g = groups[0]
    assert [h.path for h in g] == [str(photos / "a.jpg"), str(photos / "b.jpg")]
    a, b = g
    assert sorted(a.links) == sorted(
        str(photos / n) for n in ("a_link.jpg", "a_link2.jpg", os.path.join("sub", "a_hard.jpg"))
    )
    assert not b.links and not a.outside and not b.outside
    # keeping the copy: the photo goes with every path to it (no link is left dangling)
    plan = g.trash_plan(str(photos / "b.jpg"))
    assert sorted(plan.go) == sorted([a.path, *a.links]) and plan.keep == b.path
    # keeping a link keeps its file: only the other copy goes, never the link's target
    plan = g.trash_plan(str(photos / "a_link.jpg"))
    assert plan.keep == a.path and plan.go == [b.path]
    assert summary.failed == 0
    skipped = [p for p in summary.problems if "skipped: a symbolic link" in p]
    assert len(skipped) == 2  # ext and c_file_link.jpg: notes, not failures


def test_a_folder_that_follows_links_keeps_the_outside_photo_out_of_the_trash(linked, tmp_path):
    from engine.library.query.trash import OUTSIDE

    photos, outside = linked
    with Library(tmp_path / "lib", device="cpu") as lib:
        lib.index([photos], model=MODEL, follow_links=True)
        assert lib.store.files.following_links() == {os.fsencode(photos)}
        paths = {r.display_path for r in lib.store.files.ok_files()}
        assert str(photos / "ext" / "c.jpg") in paths
        lib.rescan(model=MODEL)  # the setting is kept with the folder
        assert str(photos / "ext" / "c.jpg") in {r.display_path for r in lib.store.files.ok_files()}
        groups = lib.duplicates()
        by_copy = next(g for g in groups if str(photos / "c_copy.jpg") in [h.path for h in g])
        assert len(by_copy) == 2
        out = next(h for h in by_copy if h.path != str(photos / "c_copy.jpg"))
        assert out.outside
        plan = by_copy.trash_plan(str(photos / "c_copy.jpg"))
        assert plan.go == [] and plan.stay == [(out.path, OUTSIDE)]
        plan = by_copy.trash_plan(out.path)
        assert plan.go == [str(photos / "c_copy.jpg")]
        # following off again: the outside photo leaves the library, listed as skipped
        summary = lib.index([photos], model=MODEL, follow_links=False)
        assert not lib.store.files.following_links()
        left = [r.display_path for r in lib.store.files.ok_files()]
        assert not any(p.startswith(str(photos / "ext")) for p in left)
        assert any(p.startswith(str(photos / "ext") + ": skipped") for p in summary.problems)
    assert (outside / "c.jpg").exists()


def test_a_library_made_before_the_setting_gets_it(tmp_path):
    from engine.library.store.schema import DB_NAME

    with Library(tmp_path / "lib", device="cpu") as lib:
        lib.store.files.add_folder(tmp_path)
    db = sqlite3.connect(tmp_path / "lib" / DB_NAME)
    with db:
        db.execute("ALTER TABLE folders DROP COLUMN follow_links")
        db.execute("DROP TABLE codebook_centroids")  # and what schema 3 did not have yet
        db.execute("ALTER TABLE codebooks ADD COLUMN centroids BLOB")
        db.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    db.close()
    with Library(tmp_path / "lib", device="cpu") as lib:
        assert lib.store.files.following_links() == set()
        lib.store.files.add_folder(tmp_path, follow_links=True)
        assert lib.store.files.following_links() == {os.fsencode(tmp_path)}


def test_the_command_line_skips_follows_and_lists_links(linked, tmp_path):
    """``index`` notes each link it skips (exit 0, not a failure); ``--follow-links`` follows
    them; ``duplicates --json`` lists a file's other paths and the photo kept outside."""
    import json
    import subprocess
    import sys

    from tests.helpers import ROOT

    photos, _outside = linked

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "engine", *args, "--library", str(tmp_path / "lib")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )

    proc = cli("index", str(photos), "--model", MODEL)
    assert proc.returncode == 0, proc.stderr
    notes = [ln for ln in proc.stdout.splitlines() if "skipped: a symbolic link" in ln]
    assert len(notes) == 2 and "failed 0" in proc.stdout
    proc = cli("index", str(photos), "--model", MODEL, "--follow-links", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["indexed"] == 2  # ext/c.jpg and c_file_link.jpg: one file
    proc = cli("duplicates", "--json")
    assert proc.returncode == 0, proc.stderr
    groups = json.loads(proc.stdout)["groups"]
    a = next(g for g in groups if str(photos / "a.jpg") in g["photos"])
    assert a["photos"] == [str(photos / "a.jpg"), str(photos / "b.jpg")]
    assert len(a["links"][str(photos / "a.jpg")]) == 3
    c = next(g for g in groups if str(photos / "c_copy.jpg") in g["photos"])
    assert len(c["outside"]) == 1 and c["outside"][0] != str(photos / "c_copy.jpg")


def test_a_folder_reached_through_a_link_is_not_indexed_twice(tmp_path):
    """Indexing a folder through a symbolic link and then as itself (or the other way round)
    keeps one folder and one row per photo."""
    photos = tmp_path / "photos"
    photos.mkdir()
    _photo_and_copy(4, photos / "a.jpg", photos / "b.jpg")
    link = tmp_path / "link"
    os.symlink(photos, link)
    with Library(tmp_path / "lib", device="cpu") as lib:
        first = lib.index([link])
        assert first.indexed == 2
        again = lib.index([photos])
        assert again.indexed == 0 and again.skipped_unchanged == 2
        assert any("through a symbolic link, already indexed" in p for p in again.problems)
        assert len(lib.store.files.folders()) == 1
        inside = lib.index([photos / "."])  # the same folder written another way
        assert inside.indexed == 0
        res = lib.search(str(photos / "a.jpg"), k=10)
        assert len({os.path.realpath(h.path) for h in res.hits}) == len(res.hits)
    # the other way round: a folder that holds an indexed one through a link absorbs it
    (tmp_path / "top").mkdir()
    os.symlink(tmp_path, tmp_path / "top" / "all")
    with Library(tmp_path / "lib2", device="cpu") as lib:
        assert lib.index([photos]).indexed == 2
        wider = lib.index([tmp_path / "top" / "all"])
        assert (wider.indexed, wider.moved) == (0, 2)  # found again under the link, not twice
        assert len(lib.store.files.folders()) == 1
