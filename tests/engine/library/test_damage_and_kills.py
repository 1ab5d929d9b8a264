"""A library attacked as a hostile or clumsy user would: read-only libraries, a mistyped
``--library``, damaged caches and databases, kills inside a save, awkward names."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.cli.entry import EXIT_BAD_INPUT
from engine.library import Library
from engine.library.index.inverted import LocalIndex
from engine.library.index.vector_index import VectorIndex
from engine.library.store.errors import LibraryReadOnlyError
from engine.training.generator import render_scene
from tests.helpers import KILL_AFTER_FIRST_COMMIT, MODEL, ROOT, damage_all_but_folders, run_killed

# runs several commands in one interpreter; prints [{rc, out, err}, ...] as JSON
RUNNER = """
import contextlib, io, json, sys
from engine.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    results.append({"rc": rc, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(results))
"""


def _run_commands(commands: list[list[str]], unprivileged: bool = False) -> list[dict]:
    """Run ``visual-search`` commands in a fresh interpreter; ``unprivileged``: without the
    capabilities that bypass file permissions (root reads and writes anything otherwise)."""
    cmd = [sys.executable, "-c", RUNNER, json.dumps(commands)]
    if unprivileged and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permissions cannot be enforced")
        cmd = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def _search(lib: str, query: Path, capsys, *extra: str) -> list:
    assert main(["search", str(query), "--library", lib, "-k", "8", "--json", *extra]) == 0
    return [(r["path"], round(r["score"], 5)) for r in _json(capsys)["results"]]


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _set_writable(directory: Path, writable: bool) -> None:
    for p in [directory, *directory.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode | stat.S_IWUSR if writable else mode & ~0o222)


# ----------------------------------------------------------------------------- item 1


def test_a_read_only_library_is_searched_and_never_written(tmp_path, photos, capsys):
    lib = tmp_path / "lib"
    assert (
        main(["index", str(photos), "--library", str(lib), "--model", MODEL, "--vectors", "--json"])
        == 0
    )
    capsys.readouterr()
    q = photos / "trips" / "obj2_0.jpg"
    want = _search(str(lib), q, capsys)
    want_global = _search(str(lib), q, capsys, "--pipeline", "global")
    # the inverted file is damaged and cannot be rewritten: it is rebuilt in memory
    li = next((lib / "index").glob("local-*.arrays"))
    li.write_bytes(li.read_bytes()[:-100])
    for f in lib.glob("library.sqlite3-*"):  # as a writer leaves it: no -wal, no -shm
        f.unlink()
    _set_writable(lib, False)
    before = _snapshot(lib)
    try:
        s = str(lib)
        status, search, search_g, errors, dups, index, forget = _run_commands(
            [
                ["status", "--library", s, "--json"],
                ["search", str(q), "--library", s, "-k", "8", "--json"],
                ["search", str(q), "--library", s, "-k", "8", "--json", "--pipeline", "global"],
                ["errors", "--library", s],
                ["duplicates", "--library", s, "--json"],
                ["index", str(photos), "--library", s, "--model", MODEL, "--vectors"],
                ["forget", str(photos), "--library", s],
            ],
            unprivileged=True,
        )
        after = _snapshot(lib)
    finally:
        _set_writable(lib, True)
    for r in (status, search, search_g, errors, dups):
        assert r["rc"] == 0, r["err"]
    st = json.loads(status["out"])
    assert st["read_only"] and st["files"]["indexed"] == 12
    assert st["codebooks"][0]["index"] == "damaged"
    got = [(r["path"], round(r["score"], 5)) for r in json.loads(search["out"])["results"]]
    assert got == want
    got = [(r["path"], round(r["score"], 5)) for r in json.loads(search_g["out"])["results"]]
    assert got == want_global
    assert errors["out"].strip() == "no failed photos"
    for r in (index, forget):
        assert r["rc"] == EXIT_BAD_INPUT and r["err"].count("\n") == 1, r
        assert "read-only" in r["err"] and "internal error" not in r["err"]
    assert after == before  # not one byte written, no file added


def test_opening_for_reading_never_writes_even_when_it_could(tmp_path, photos):
    lib = Library(tmp_path / "lib", device="cpu")
    lib.index([photos], model=MODEL, vectors=True)
    lib.close()
    db = tmp_path / "lib" / "library.sqlite3"
    con = sqlite3.connect(db)
    used = con.execute("SELECT last_used_at FROM models").fetchall()
    con.close()
    reader = Library(tmp_path / "lib", device="cpu", mode="read")
    try:
        assert reader.read_only
        assert reader.search(photos / "home" / "obj1_2.jpg", k=3, model=MODEL).hits
        with pytest.raises(LibraryReadOnlyError, match="read-only"):
            reader.index([photos], model=MODEL, vectors=True)
    finally:
        reader.close()
    con = sqlite3.connect(db)
    assert con.execute("SELECT last_used_at FROM models").fetchall() == used
    con.close()


# ----------------------------------------------------------------------------- item 5


def test_a_mistyped_library_is_not_created(tmp_path, photos, capsys):
    missing = tmp_path / "typo" / "lib"
    for argv in (
        ["status"],
        ["errors"],
        ["duplicates"],
        ["search", str(photos / "home" / "obj0_2.jpg")],
        ["forget", str(photos)],
    ):
        assert main([*argv, "--library", str(missing)]) == EXIT_BAD_INPUT, argv
        err = capsys.readouterr().err
        assert err == f"visual-search: error: no library at {missing}\n", argv
    assert not (tmp_path / "typo").exists()
    assert (
        main(["index", str(photos), "--library", str(missing), "--model", MODEL, "--vectors"]) == 0
    )
    assert (missing / "library.sqlite3").is_file()


# ----------------------------------------------------------------------------- item 2


def test_any_changed_byte_of_a_large_faiss_file_is_caught(tmp_path):
    rng = np.random.default_rng(0)
    vi = VectorIndex.empty(256, "flat", generation=3)
    vi.add(np.arange(4000), rng.standard_normal((4000, 256)).astype(np.float32))
    vi.save(tmp_path, "m")
    path = VectorIndex.file(tmp_path, "m").path
    assert path.stat().st_size > 3 << 20  # the middle lies outside the first and last MiB
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4096] = bytes(4096)  # zeros: still a loadable index, wrong vectors
    path.write_bytes(bytes(data))
    loaded, reason = VectorIndex.load(tmp_path, "m")
    assert loaded is None and reason == "damaged (checksum mismatch)"


def test_a_damaged_index_is_named_in_status_and_search_stays_right(tmp_path, photos, capsys):
    lib, clean = str(tmp_path / "lib"), str(tmp_path / "clean")
    for d in (lib, clean):
        assert main(["index", str(photos), "--library", d, "--model", MODEL, "--vectors"]) == 0
    capsys.readouterr()
    q = photos / "trips" / "obj1_0.jpg"
    faiss_file = next((tmp_path / "lib" / "index").glob("*.faiss"))
    npz = next((tmp_path / "lib" / "index").glob("local-*.arrays"))
    for f in (faiss_file, npz):
        data = bytearray(f.read_bytes())
        mid = len(data) // 2
        data[mid : mid + 64] = bytes(64)
        f.write_bytes(bytes(data))
    assert main(["status", "--library", lib, "--json"]) == 0
    st = _json(capsys)
    assert st["models"][0]["index_state"] == "damaged"
    assert "checksum mismatch" in st["models"][0]["index_note"]
    assert st["codebooks"][0]["index"] == "damaged"
    assert main(["status", "--library", lib]) == 0
    text = capsys.readouterr().out
    assert "index damaged (checksum mismatch)" in text and "not built" not in text
    assert "inverted file damaged (checksum mismatch)" in text
    for pipeline in ("fused", "global"):
        got = _search(lib, q, capsys, "--pipeline", pipeline)
        assert got == _search(clean, q, capsys, "--pipeline", pipeline)
    assert main(["status", "--library", lib, "--json"]) == 0  # the search rebuilt both
    st = _json(capsys)
    assert st["models"][0]["index_state"] == "current" and st["codebooks"][0]["index"] == "current"
    with Library(lib, device="cpu") as library:  # the store moves on, the saved index not
        _, row = library.model(MODEL)
        library.store.models.bump_generation(row.id)
    assert main(["status", "--library", lib, "--json"]) == 0
    assert _json(capsys)["models"][0]["index_state"] == "stale"


# ----------------------------------------------------------------------------- item 6


def _many_photos(root: Path, n: int) -> None:
    root.mkdir()
    for i in range(n):
        img, _ = render_scene([i % 11], seed=i, size=(64, 48), occlusion=0.0)
        img.save(root / f"p{i:03d}.jpg", quality=85)


def test_a_resumed_run_counts_each_photo_once(tmp_path, capsys):
    photos, lib = tmp_path / "photos", tmp_path / "lib"
    n = 40
    _many_photos(photos, n)
    argv = ["index", str(photos), "--library", str(lib), "--model", MODEL, "--vectors", "--json"]
    run_killed(KILL_AFTER_FIRST_COMMIT, *argv)
    con = sqlite3.connect(lib / "library.sqlite3")
    files, done = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'ok') FROM files"
    ).fetchone()
    con.close()
    assert files == n and 0 < done < n  # every photo scanned, some indexed
    assert main(argv) == 0
    s = _json(capsys)
    assert (s["indexed"], s["skipped_unchanged"], s["failed"]) == (n - done, done, 0)
    assert main(argv) == 0  # and a run with nothing to do
    s = _json(capsys)
    assert (s["indexed"], s["skipped_unchanged"], s["failed"]) == (0, n, 0)


# ----------------------------------------------------------------------------- must hold


# the index command, killed (SIGKILL) by itself inside the save of one cache: after its
# temporary file is written, before the rename
KILL_INSIDE_SAVE = """
import os, signal, sys
suffix = sys.argv[1]
rename = os.replace
def replace_or_die(src, dst, *a, **k):
    if os.fspath(dst).endswith(suffix):
        os.kill(os.getpid(), signal.SIGKILL)
    return rename(src, dst, *a, **k)
os.replace = replace_or_die
from engine.cli import main
main(sys.argv[2:])
"""


def test_a_kill_inside_the_index_save_leaves_nothing_that_breaks_the_next_run(
    tmp_path, photos, capsys
):
    lib, clean = str(tmp_path / "lib"), str(tmp_path / "clean")
    argv = ["index", str(photos), "--library", lib, "--model", MODEL, "--vectors"]
    assert main(argv) == 0
    index_dir = tmp_path / "lib" / "index"
    left = []
    for i, suffix in enumerate((".faiss", ".arrays")):  # a new photo, then a kill in its save
        img, _ = render_scene([5 + i], seed=90 + i, size=(128, 96))
        img.save(photos / "home" / f"new{i}.jpg", quality=90)
        run_killed(KILL_INSIDE_SAVE, suffix, *argv)
        left = sorted(f.name for f in index_dir.glob(".*.tmp"))
        assert len(left) == 1 and f"{suffix}." in left[0], left  # the kill landed in the save
    capsys.readouterr()
    assert main(["index", str(photos), "--library", clean, "--model", MODEL, "--vectors"]) == 0
    capsys.readouterr()
    for q in (photos / "trips" / "obj0_0.jpg", photos / "home" / "new1.jpg"):
        for pipeline in ("fused", "global"):
            want = _search(clean, q, capsys, "--pipeline", pipeline)
            assert _search(lib, q, capsys, "--pipeline", pipeline) == want
    assert main([*argv, "--json"]) == 0
    s = _json(capsys)
    assert (s["indexed"], s["skipped_unchanged"]) == (0, 14)
    assert not list(index_dir.glob(".*.tmp"))  # the leftover is gone
    assert main(["status", "--library", lib, "--json"]) == 0
    st = _json(capsys)
    assert st["models"][0]["index_state"] == "current" and st["codebooks"][0]["index"] == "current"


# ----------------------------------------------------------------------------- item 7


def test_a_damaged_database_says_what_to_do_and_repair_rebuilds(tmp_path, photos, capsys):
    lib = str(tmp_path / "lib")
    assert main(["index", str(photos), "--library", lib, "--model", MODEL, "--vectors"]) == 0
    capsys.readouterr()
    db = tmp_path / "lib" / "library.sqlite3"
    damaged = damage_all_but_folders(db)
    q = photos / "trips" / "obj2_1.jpg"
    for argv in (
        ["status"],
        ["search", str(q)],
        ["index", str(photos), "--model", MODEL, "--vectors"],
    ):
        assert main([*argv, "--library", lib]) == EXIT_BAD_INPUT, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "internal error" not in err, err
        assert "damaged (database disk image is malformed)" in err
        assert "photos are untouched" in err and f"visual-search repair --library {lib}" in err
    assert main(["repair", "--library", lib, "--json"]) == 0
    r = _json(capsys)
    assert "malformed" in r["damaged"]
    assert r["folders"] == [str(photos)] and r["model"] == MODEL and r["missing"] == []
    assert r["indexed"]["indexed"] == 12
    kept = Path(r["kept"][0])
    assert kept.name.startswith("library.sqlite3.damaged-") and kept.read_bytes() == damaged
    assert main(["status", "--library", lib, "--json"]) == 0
    assert _json(capsys)["files"]["indexed"] == 12
    hits = _search(lib, q, capsys)
    assert len(hits) == 8
    assert main(["repair", "--library", lib]) == 0
    assert "nothing to repair" in capsys.readouterr().out


def test_repair_finds_the_folders_through_the_photos_when_their_table_is_damaged(
    tmp_path, photos, capsys
):
    lib = str(tmp_path / "lib")
    assert main(["index", str(photos), "--library", lib, "--model", MODEL]) == 0
    capsys.readouterr()
    db = tmp_path / "lib" / "library.sqlite3"
    con = sqlite3.connect(db)
    page = con.execute("PRAGMA page_size").fetchone()[0]
    (root,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'folders'").fetchone()
    con.close()
    data = bytearray(db.read_bytes())
    data[(root - 1) * page : root * page] = b"\xa5" * page  # the folders table only
    db.write_bytes(bytes(data))
    assert main(["repair", "--library", lib, "--json"]) == 0
    r = _json(capsys)
    assert r["folders"] == [str(photos)] and r["indexed"]["indexed"] == 12
    assert main(["status", "--library", lib, "--json"]) == 0
    assert _json(capsys)["files"]["indexed"] == 12


def test_a_file_that_is_not_a_database_is_set_aside_by_repair(tmp_path, capsys):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "library.sqlite3").write_bytes(b"scribbled over " * 1000)
    assert main(["errors", "--library", str(lib)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "damaged (file is not a database)" in err and "repair" in err
    assert main(["repair", "--library", str(lib)]) == 0
    out = capsys.readouterr().out
    assert "no folder could be read from the damaged file" in out
    assert main(["status", "--library", str(lib), "--json"]) == 0
    assert _json(capsys)["files"] == {"indexed": 0, "pending": 0, "failed": 0}
    (kept,) = lib.glob("library.sqlite3.damaged-*")
    assert kept.read_bytes() == b"scribbled over " * 1000


# ----------------------------------------------------------------------------- item 8


def test_awkward_names_stay_on_one_line_and_survive_json(tmp_path, photos, capsys):
    home = os.fsencode(photos / "home")
    newline = os.path.join(home, b"two\nlines.jpg")
    latin = os.path.join(home, b"caf\xe9.jpg")
    shutil.copy(photos / "home" / "obj0_2.jpg", newline)
    shutil.copy(photos / "home" / "obj1_2.jpg", latin)
    broken = os.path.join(home, b"broken\n\x1b[31mred.jpg")
    with open(broken, "wb") as f:
        f.write(b"not a photo")
    lib = str(tmp_path / "lib")
    assert main(["index", str(photos), "--library", lib, "--model", MODEL, "--vectors"]) == 0
    capsys.readouterr()
    assert main(["search", str(photos / "home" / "obj0_2.jpg"), "--library", lib, "-k", "20"]) == 0
    out = capsys.readouterr().out
    ranked = [ln for ln in out.splitlines() if ln.lstrip()[:1].isdigit()]
    assert len(ranked) == 13  # every other photo, each on its own line
    assert sum("/two\\nlines.jpg" in ln for ln in ranked) == 1
    assert sum("/caf\\xe9.jpg" in ln for ln in ranked) == 1
    assert main(["errors", "--library", lib]) == 0
    err_lines = capsys.readouterr().out.splitlines()
    assert len(err_lines) == 1 and "broken\\n\\x1b[31mred.jpg" in err_lines[0]
    assert (
        main(
            ["search", str(photos / "home" / "obj0_2.jpg"), "--library", lib, "-k", "20", "--json"]
        )
        == 0
    )
    by_raw = {}
    for r in _json(capsys)["results"]:
        raw = base64.b64decode(r["path_bytes"]) if "path_bytes" in r else os.fsencode(r["path"])
        by_raw[raw] = r
    assert latin in by_raw and "path_bytes" in by_raw[latin] and os.path.exists(latin)
    assert newline in by_raw and "path_bytes" not in by_raw[newline]
    assert main(["errors", "--library", lib, "--json"]) == 0
    (e,) = _json(capsys)
    assert e["path"] == os.fsdecode(broken) and "path_bytes" not in e  # valid UTF-8
    assert main(["duplicates", "--library", lib]) == 0
    text = capsys.readouterr().out
    assert "two\\nlines.jpg" in text and "caf\\xe9.jpg" in text
    assert all(not ln.startswith("lines.jpg") for ln in text.splitlines())
    assert main(["duplicates", "--library", lib, "--json"]) == 0
    groups = _json(capsys)["groups"]
    latin_group = next(g for g in groups if any("caf" in p for p in g["photos"]))
    raw = [base64.b64decode(b) for b in latin_group["photos_bytes"] if b]
    assert raw == [latin]


# ----------------------------------------------------------------------------- item 9


def test_caches_get_the_database_file_mode(tmp_path, photos):
    old = os.umask(0o022)
    try:
        with Library(tmp_path / "lib", device="cpu") as lib:
            lib.index([photos], model=MODEL, vectors=True)
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "lib" / "library.sqlite3").stat().st_mode)
    assert mode == 0o644
    caches = list((tmp_path / "lib" / "index").iterdir())
    assert {f.suffix for f in caches} == {".faiss", ".json", ".arrays"}
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in caches} == {
        f.name: mode for f in caches
    }
    assert LocalIndex.load(tmp_path / "lib" / "index", lib.codebook().fingerprint)[1] == "ok"
