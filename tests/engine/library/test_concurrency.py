"""One writer at a time, readers never blocked, and a kill at any instant loses nothing."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.cli.entry import EXIT_BAD_INPUT
from engine.library import Library, LibraryBusyError
from engine.library.store.lock import WriterLock
from engine.training.generator import render_scene
from tests.helpers import MODEL, ROOT


def _cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def _index_cmd(photos: Path, libdir: Path, *extra: str) -> list[str]:
    """``visual-search index`` of ``photos`` into ``libdir`` with the test model."""
    return [
        sys.executable,
        "-m",
        "engine",
        "index",
        str(photos),
        "--library",
        str(libdir),
        "--model",
        MODEL,
        "--vectors",
        *extra,
    ]


def _hold_lock(libdir: Path) -> subprocess.Popen:
    code = (
        "import sys, time; from engine.library.store.lock import WriterLock; "
        "l = WriterLock(sys.argv[1]); l.acquire(); print('locked', flush=True); "
        "time.sleep(120)"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code, str(libdir)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert p.stdout.readline().strip() == "locked"
    return p


def test_second_writer_gets_a_clear_message_and_readers_still_work(tmp_path, photos):
    libdir = tmp_path / "lib"
    lib = Library(libdir, device="cpu")
    lib.index([photos], model=MODEL, vectors=True)
    holder = _hold_lock(libdir)
    try:
        with pytest.raises(LibraryBusyError, match=f"pid {holder.pid}"):
            lib.index([photos], model=MODEL, vectors=True)
        proc = _cli("index", str(photos), "--library", str(libdir), "--model", MODEL, "--vectors")
        assert proc.returncode == EXIT_BAD_INPUT
        assert "another visual-search process" in proc.stderr
        assert proc.stderr.count("\n") == 1
        t = time.perf_counter()
        res = lib.search(photos / "home" / "obj0_2.jpg", k=3)  # reading needs no lock
        assert len(res.hits) == 3 and time.perf_counter() - t < 30
        assert lib.status()["files"]["indexed"] == 12
    finally:
        holder.kill()
        holder.wait()
    # the OS released the killed holder's lock: writing works again at once
    with WriterLock(libdir):
        pass
    lib.close()


def _make_photos(root: Path, n: int) -> None:
    root.mkdir()
    for i in range(n):
        sub = root / f"d{i % 5}"
        sub.mkdir(exist_ok=True)
        img, _ = render_scene([i % 37], seed=i, size=(64, 48), occlusion=0.0)
        img.save(sub / f"p{i:04d}.jpg", quality=85)


def _search_json(libdir: Path, query: Path) -> list:
    proc = _cli("search", str(query), "--library", str(libdir), "-k", "10", "--json")
    assert proc.returncode == 0, proc.stderr
    return [(r["path"], round(r["score"], 5)) for r in json.loads(proc.stdout)["results"]]


def _progress(libdir: Path) -> tuple[int, int]:
    """(files, vectors) committed so far, read without disturbing the writer."""
    db = libdir / "library.sqlite3"
    if not db.exists():
        return 0, 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            f = con.execute("SELECT count(*) FROM files").fetchone()[0]
            v = con.execute("SELECT count(*) FROM vectors").fetchone()[0]
            return f, v
        finally:
            con.close()
    except sqlite3.Error:  # schema not created yet
        return 0, 0


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tmp_path):
    photos = tmp_path / "photos"
    n = 300
    _make_photos(photos, n)
    libdir = tmp_path / "lib"
    cmd = _index_cmd(photos, libdir, "--json")
    rng = random.Random(1234)
    kills = []
    done = 0
    for attempt in range(5):
        # a random moment of the remaining work: 0 = while scanning, else after that many
        # vectors are committed, plus jitter so the kill can land inside a batch
        target = 0 if attempt == 0 else rng.randint(done + 1, done + (n - done) // 2)
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while p.poll() is None and _progress(libdir)[target > 0] < max(target, 1):
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.05))
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            kills.append(_progress(libdir))
        p.wait()
        done = _progress(libdir)[1]
    print("killed at (files, vectors):", kills)
    assert len(kills) >= 4, kills
    assert any(0 < v < n for _, v in kills)  # at least one kill mid-extraction
    final = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    summary = json.loads(final.stdout)
    assert summary["failed"] == 0

    lib = Library(libdir, device="cpu")
    with lib.store.db.connect() as c:
        files = c.execute(text("SELECT count(*), count(DISTINCT path) FROM files")).one()
        per_file = c.execute(
            text("SELECT max(c) FROM (SELECT count(*) c FROM vectors GROUP BY file_id, model_id)")
        ).scalar_one()
        orphans = c.execute(
            text(
                "SELECT count(*) FROM vectors v LEFT JOIN files f ON f.id = v.file_id "
                "WHERE f.id IS NULL"
            )
        ).scalar_one()
        vectors = c.execute(text("SELECT count(*) FROM vectors")).scalar_one()
        codes = c.execute(text("SELECT count(*), count(DISTINCT file_id) FROM local_codes")).one()
        integrity = c.execute(text("PRAGMA integrity_check")).scalar_one()
    assert integrity == "ok"
    assert tuple(files) == (n, n)
    assert vectors == n and per_file == 1 and orphans == 0
    assert tuple(codes) == (n, n)  # local codes too: each photo once
    lib.close()

    clean = tmp_path / "clean"
    proc = _cli(
        "index", str(photos), "--library", str(clean), "--model", MODEL, "--json", timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    for q in (photos / "d0" / "p0000.jpg", photos / "d3" / "p0123.jpg"):
        assert _search_json(libdir, q) == _search_json(clean, q)


def test_watch_mode_picks_up_new_photos_and_stops_on_interrupt(tmp_path, photos):
    import shutil

    libdir = tmp_path / "lib"
    p = subprocess.Popen(
        _index_cmd(photos, libdir, "--watch", "--interval", "0.3", "--json"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(p.stdout.readline())
        assert first["indexed"] == 12
        shutil.copy(photos / "home" / "obj0_2.jpg", photos / "home" / "new-arrival.jpg")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = json.loads(p.stdout.readline())
            if line["indexed"]:
                assert line["indexed"] == 1 and line["skipped_unchanged"] == 12
                break
        else:
            pytest.fail("the new photo was never indexed")
    finally:
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=60)
    assert rc == 0, p.stderr.read()
    lib = Library(libdir, device="cpu")
    assert lib.status()["files"]["indexed"] == 13
    lib.close()
