"""``visual-search repair`` killed (SIGKILL) at any instant leaves the damaged library as it
was or the repaired one, and a later ``status`` or ``repair`` never calls a damaged or emptied
library sound: ``status`` says what to do, ``repair`` finishes or starts again."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from tests.helpers import KILL_AFTER_FIRST_COMMIT, MODEL, ROOT, damage_all_but_folders

PHOTOS = 3

# `visual-search repair` whose swap is first tried on copies of the library, one per
# file-system call of the swap (rename, link, unlink, fsync, ...): a forked child copies the
# library as it is just before the swap and is SIGKILLed before its k-th such call, for k = 1,
# 2, ... until a child gets through; then the repair itself goes on. Prints the kills.
KILL_AT_EVERY_STEP = """
import os, shutil, signal, sys
import engine.library.repair as repair
from engine.cli import main
CALLS = {"open", "replace", "rename", "link", "unlink", "remove", "rmdir", "mkdir", "fsync",
         "ftruncate", "sendfile", "copy_file_range"}
swap = repair.begin_swap
def sweep(directory, journal):
    kills = 0
    for k in range(1, 200):
        copy = f"{directory}-kill{k:02d}"
        shutil.copytree(directory, copy, symlinks=True)
        pid = os.fork()
        if pid == 0:
            seen = [0]
            def profile(frame, event, fn):
                if event == "c_call" and getattr(fn, "__module__", None) == "posix" \\
                        and fn.__name__ in CALLS:
                    seen[0] += 1
                    if seen[0] == k:
                        os.kill(os.getpid(), signal.SIGKILL)
            sys.setprofile(profile)
            swap(copy, journal)
            sys.setprofile(None)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if not os.WIFSIGNALED(status):
            shutil.rmtree(copy)
            break
        assert os.WTERMSIG(status) == signal.SIGKILL
        kills += 1
    print("KILLS", kills, flush=True)
    return swap(directory, journal)
repair.begin_swap = sweep
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, _photo_template):
    """A library of ``PHOTOS`` photos, indexed once for the module."""
    root = tmp_path_factory.mktemp("indexed")
    photos = root / "photos"
    photos.mkdir()
    for src in sorted(_photo_template.rglob("*.jpg"))[:PHOTOS]:
        shutil.copy(src, photos / src.name)
    assert main(["index", str(photos), "--library", str(root / "lib"), "--model", MODEL]) == 0
    return root


@pytest.fixture
def damaged(indexed, tmp_path):
    """A copy of the indexed library with every database page but its folders' damaged;
    returns (library folder, the damaged file's bytes)."""
    lib = tmp_path / "lib"
    shutil.copytree(indexed / "lib", lib)
    return lib, damage_all_but_folders(lib / "library.sqlite3")


def _run(code: str, *argv: str) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _cli(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def _photos_or_refusal(lib: Path, capsys) -> int | None:
    """The photos ``status`` counts, or None when it refuses the library in one line that
    sends the user to ``repair``; never a sound library short of photos."""
    code, st, err = _cli(capsys, "status", "--library", str(lib))
    if code == 0:
        assert st["files"]["indexed"] == PHOTOS, st  # whole, or refused: never emptied
        return PHOTOS
    assert code in (1, 2) and err.count("\n") == 1 and "internal error" not in err, err
    assert f"visual-search repair --library {lib}" in err, err
    assert "damaged" in err or "repair of this library was interrupted" in err, err
    return None


def test_a_repair_killed_while_it_indexes_leaves_the_damaged_library_to_repair_again(
    damaged, capsys
):
    lib, damaged_bytes = damaged
    killed = _run(KILL_AFTER_FIRST_COMMIT, "repair", "--library", str(lib))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # the damaged database is where it was, byte for byte; nothing was set aside
    assert (lib / "library.sqlite3").read_bytes() == damaged_bytes
    assert not list(lib.glob("library.sqlite3.damaged-*"))
    assert _photos_or_refusal(lib, capsys) is None
    code, r, _ = _cli(capsys, "repair", "--library", str(lib))
    assert code == 0 and "malformed" in r["damaged"] and r["indexed"]["indexed"] == PHOTOS
    assert not (lib / "repair-staging").exists()
    assert _photos_or_refusal(lib, capsys) == PHOTOS
    (kept,) = lib.glob("library.sqlite3.damaged-*[0-9]")
    assert kept.read_bytes() == damaged_bytes
    code, r, _ = _cli(capsys, "repair", "--library", str(lib))
    assert code == 0 and r["damaged"] is None  # sound now, and it has its photos


def test_a_repair_killed_at_every_step_of_its_swap_is_finished_or_started_again(damaged, capsys):
    lib, damaged_bytes = damaged
    done = _run(KILL_AT_EVERY_STEP, "repair", "--library", str(lib), "--json")
    assert done.returncode == 0, done.stderr
    kills = int(done.stdout.split("KILLS ")[1].split()[0])
    assert kills >= 8  # journal, side files, link, caches, the swap, staged caches, clean-up
    report = json.loads(done.stdout.split("\n", 1)[1])
    assert report["indexed"]["indexed"] == PHOTOS
    assert _photos_or_refusal(lib, capsys) == PHOTOS
    finished = 0
    for k in range(1, kills + 1):
        copy = Path(f"{lib}-kill{k:02d}")
        journal = (copy / "repair-journal.json").exists()
        status = _photos_or_refusal(copy, capsys)
        if not journal:  # killed before the journal was written, or once it was gone
            before = (copy / "library.sqlite3").read_bytes() == damaged_bytes
            assert (before and status is None) or (not before and status == PHOTOS), k
            continue
        assert status is None, k  # an unfinished swap is never shown as done
        code, r, err = _cli(capsys, "repair", "--library", str(copy))
        assert code == 0, (k, err)
        assert r["finished_interrupted"] and r["damaged"] and r["folders"], (k, r)
        assert _photos_or_refusal(copy, capsys) == PHOTOS, k
        kept = [Path(p) for p in r["kept"] if p.endswith(tuple("0123456789"))]
        assert [p.read_bytes() for p in kept] == [damaged_bytes], k
        assert (
            not (copy / "repair-staging").exists() and not (copy / "repair-journal.json").exists()
        )
        code, r, _ = _cli(capsys, "repair", "--library", str(copy))
        assert code == 0 and r["damaged"] is None, k
        finished += 1
    print(f"{kills} kills, {finished} finished by repair")
    assert finished >= 6


def test_a_library_emptied_by_an_interrupted_repair_is_not_called_sound(damaged, capsys):
    """What a repair of an older version left when killed while it indexed again: the
    damaged file set aside and a fresh, empty database in its place."""
    from engine.library import Library

    lib, damaged_bytes = damaged
    kept = lib / "library.sqlite3.damaged-20260101-000000"
    os.replace(lib / "library.sqlite3", kept)
    for f in (lib / "index").iterdir():
        f.unlink()
    Library(lib, mode="create").close()
    assert main(["status", "--library", str(lib)]) == 0
    out = capsys.readouterr().out
    assert "photos: 0 indexed" in out
    assert f"damaged database is kept beside it as {kept}" in out
    assert f"`visual-search repair --library {lib}` indexes again" in out
    code, r, _ = _cli(capsys, "repair", "--library", str(lib))
    assert code == 0 and r["damaged"] is None and r["emptied_from"] == str(kept)
    assert r["indexed"]["indexed"] == PHOTOS
    assert _photos_or_refusal(lib, capsys) == PHOTOS
    assert kept.read_bytes() == damaged_bytes
    assert main(["repair", "--library", str(lib)]) == 0
    assert "sound; nothing to repair" in capsys.readouterr().out
