"""Every awkward file the issue lists, in one folder: each gets a reason, the run goes on."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.library.index import indexer as indexer_mod
from engine.library.store.files import FileTable
from engine.training.generator import render_scene
from tests.helpers import MODEL, png_bomb, save_with_orientation, truncated_jpeg


@pytest.fixture
def messy(tmp_path):
    root = tmp_path / "messy"
    root.mkdir()
    good, _ = render_scene([1], seed=3, size=(160, 120))
    good.save(root / "good.jpg", quality=90)
    expected_failures = {}

    truncated_jpeg(root / "truncated.jpg", root / "good.jpg")
    expected_failures["truncated.jpg"] = "truncated"
    (root / "zero.jpg").write_bytes(b"")
    expected_failures["zero.jpg"] = "empty file"
    (root / "text.jpg").write_text("a shopping list, not a photo\n")
    expected_failures["text.jpg"] = "not a recognised image format"
    png_bomb(root / "bomb.png")
    expected_failures["bomb.png"] = "too large"
    os.symlink(root / "nowhere.jpg", root / "broken-link.jpg")
    expected_failures["broken-link.jpg"] = "broken symbolic link"
    os.symlink(root / "loop.jpg", root / "loop.jpg")
    expected_failures["loop.jpg"] = "symbolic link loop"
    (root / "sub").mkdir()
    os.symlink(root, root / "sub" / "back-to-top")  # a directory loop: must not hang
    (root / "phone.heic").write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 100)
    # HEIC is read through pillow-heif (a dependency): these bytes are a damaged one
    expected_failures["phone.heic"] = "damaged or unsupported HEIC/HEIF file"

    Image.new("CMYK", (64, 48), (10, 200, 30, 0)).save(root / "cmyk.jpg")
    Image.fromarray(np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20).save(
        root / "deep16.png"
    )
    pal = good.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.save(root / "palette.png", transparency=0)
    frames = [good, good.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    good.save(os.path.join(os.fsencode(root), b"caf\xe9-latin1.jpg"), quality=90)
    good.save(root / ("very-long-name-" + "x" * 220 + ".jpg"), quality=90)
    upright, _ = render_scene([2], seed=11, size=(160, 120))
    for o in range(1, 9):
        save_with_orientation(upright, o, root / f"orient{o}.jpg")
    return root, expected_failures


def test_bad_files_are_reported_and_everything_else_indexed(library, messy, monkeypatch):
    root, expected = messy
    s = library.index([root], model=MODEL, vectors=True)  # the vectors are checked below
    errors = {os.path.basename(r.display_path): r.error for r in library.errors()}
    for name, reason in expected.items():
        assert name in errors, (name, errors)
        assert reason in errors[name], (name, errors[name])
        assert "\n" not in errors[name]
    assert s.failed == len(expected) == len(errors)
    # 1 good + cmyk + 16-bit + palette + gif + non-UTF-8 + long name + 8 orientations
    assert s.indexed == 15
    _, row = library.model(MODEL)
    # every EXIF orientation gives (nearly) the upright photo's descriptor
    ids = {
        os.path.basename(r.display_path): r.id
        for r in library.store.files.files_in_folder(library.store.files.folders()[0][0]).values()
    }
    vecs = library.store.vectors.vectors_for(row.id, [ids[f"orient{o}.jpg"] for o in range(1, 9)])
    ref = vecs[ids["orient1.jpg"]]
    for o in range(2, 9):
        assert float(np.dot(ref, vecs[ids[f"orient{o}.jpg"]])) > 0.99, o
    # the non-UTF-8 name survives exactly
    latin = library.store.files.file_by_path(os.path.join(os.fsencode(root), b"caf\xe9-latin1.jpg"))
    assert latin is not None and latin.status == "ok"
    # a second run tries the failed files again: they fail again and are counted so, as
    # `status` and `errors` count them
    again = library.index([root], model=MODEL, vectors=True)
    assert (again.indexed, again.failed, again.skipped_unchanged) == (0, len(expected), 15)
    assert len(library.errors()) == len(expected)
    # not tried again (`index --watch` after its first pass): still counted as failed
    spy = []
    real = indexer_mod.Indexer.extract_pending

    def counting(self, folder_ids, summary):
        spy.append(len(self.store.files.pending_for_model(self.model.id, folder_ids)))
        return real(self, folder_ids, summary)

    monkeypatch.setattr(indexer_mod.Indexer, "extract_pending", counting)
    quiet = library.index([root], model=MODEL, vectors=True, retry_failed=False)
    assert spy == [0]  # nothing to decode
    assert (quiet.indexed, quiet.failed, quiet.skipped_unchanged) == (0, len(expected), 15)
    assert len(library.errors()) == len(expected)


def test_errors_and_search_cli_handle_odd_names(messy, tmp_path, capsys):
    root, expected = messy
    lib = str(tmp_path / "clilib")
    assert main(["index", str(root), "--library", lib, "--model", MODEL, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["failed"] == len(expected) and summary["indexed"] == 15
    assert main(["errors", "--library", lib, "--json"]) == 0
    errs = json.loads(capsys.readouterr().out)
    assert {os.path.basename(e["path"]) for e in errs} == set(expected)
    assert main(["search", str(root / "good.jpg"), "--library", lib, "--json", "-k", "30"]) == 0
    out = json.loads(capsys.readouterr().out)
    names = [os.path.basename(r["path"]) for r in out["results"]]
    assert "caf\udce9-latin1.jpg" in names  # undecodable byte kept as a surrogate escape


def test_file_deleted_between_scan_and_decode(library, photos, monkeypatch):
    victim = photos / "trips" / "obj3_1.jpg"
    orig = FileTable.pending_for_model

    def pending_then_delete(self, *a, **k):
        rows = orig(self, *a, **k)
        victim.unlink()  # the scan saw it; the decoder will not
        return rows

    monkeypatch.setattr(FileTable, "pending_for_model", pending_then_delete)
    s = library.index([photos], model=MODEL)
    assert (s.indexed, s.failed) == (11, 1)
    assert [r.error for r in library.errors()] == ["file not found"]
    monkeypatch.setattr(FileTable, "pending_for_model", orig)
    s2 = library.index([photos], model=MODEL)  # the next scan drops it
    assert s2.removed == 1 and library.errors() == []


def test_folder_disappearing_mid_run(library, photos, monkeypatch):
    monkeypatch.setattr(indexer_mod, "COMMIT_EVERY", 1)
    seen = []

    def progress(done, total, msg):
        seen.append(done)
        if total and done == 1 and (photos / "trips").exists():
            shutil.rmtree(photos / "trips")  # e.g. a network share dropping out

    s = library.index([photos], model=MODEL, progress=progress)
    assert s.indexed + s.failed == 12 and s.failed >= 1
    assert all(r.error == "file not found" for r in library.errors())
    s2 = library.index([photos], model=MODEL)
    assert s2.removed == 8  # every row of the vanished folder, indexed or failed
    assert library.errors() == []
    assert library.status()["files"]["indexed"] == 4


def test_unreadable_folder_is_a_note_not_a_crash(library, photos, monkeypatch):
    from engine.library.index import scan

    real = os.scandir

    def fake_scandir(path):
        if os.fsencode(path).endswith(b"/home"):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(scan.os, "scandir", fake_scandir)
    s = library.index([photos], model=MODEL)
    assert s.indexed == 8
    assert any("home: permission denied" in p for p in s.problems)


def test_unreadable_file_is_reported_even_when_run_as_root(tmp_path, photos, capsys):
    """A photo without read permission: root normally reads anything, so as root the indexer
    runs without the capabilities that bypass file permissions (setpriv)."""
    import shutil
    import subprocess
    import sys

    locked = photos / "home" / "locked.jpg"
    shutil.copy(photos / "home" / "obj0_2.jpg", locked)
    locked.chmod(0)
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "index",
        str(photos),
        "--library",
        str(tmp_path / "lib"),
        "--model",
        MODEL,
        "--json",
    ]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot be enforced")
        cmd = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *cmd]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    finally:
        locked.chmod(0o644)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["indexed"], summary["failed"]) == (12, 1)
    assert main(["errors", "--library", str(tmp_path / "lib"), "--json"]) == 0
    errors = json.loads(capsys.readouterr().out)
    assert [(os.path.basename(e["path"]), e["reason"]) for e in errors] == [
        ("locked.jpg", "permission denied")
    ]
    # readable again (same size and time): the next run tries it again and indexes it
    assert main(["index", str(photos), "--library", str(tmp_path / "lib"), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["indexed"], again["failed"], again["skipped_unchanged"]) == (1, 0, 12)
    assert main(["errors", "--library", str(tmp_path / "lib"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
