"""Indexing computes what search uses: the network runs at index time only when ranking uses
its vectors; ``index --vectors`` fills them later as resumable work; the rate and time left come
from this run's measured rate."""

from __future__ import annotations

import itertools
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from engine.cli import main
from engine.library import Library
from engine.network.checkpoint import bundled_model_dir
from engine.tasks import Rate, format_seconds
from engine.training.generator import render_scene
from tests.helpers import KILL_AFTER_FIRST_COMMIT, run_killed


def _photos(root: Path, n: int, size=(96, 72)) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img, _ = render_scene([i % 11], seed=i, size=size, occlusion=0.0)
        img.save(root / f"p{i:03d}.jpg", quality=85)


def _vectors(lib: Path) -> int:
    con = sqlite3.connect(lib / "library.sqlite3")
    try:
        return con.execute("SELECT count(*) FROM vectors").fetchone()[0]
    finally:
        con.close()


def test_the_bundled_network_does_not_run_at_index_time(tmp_path):
    """Its vectors are not used for ranking: photos are indexed (local codes, status ok),
    the network is never loaded, and a global search says how many photos it cannot see."""
    _photos(tmp_path / "photos", 6)
    with Library(tmp_path / "lib") as lib:
        s = lib.index([tmp_path / "photos"])
        assert (s.indexed, s.failed) == (6, 0)
        assert lib.networks._loaded == {}  # never loaded to index
        st = lib.status()
        assert st["folders"][0]["indexed"] == 6 and st["folders"][0]["pending"] == 0
        assert st["codebooks"][0]["photos"] == 6
        res = lib.search(tmp_path / "photos" / "p001.jpg", pipeline="local")
        assert res.hits and res.missing_vectors == 0
        res = lib.search(tmp_path / "photos" / "p001.jpg", pipeline="global")
        assert res.missing_vectors == 6  # and none of them is ranked by the network
        assert all(h.global_score == 0.0 for h in res.hits)
        again = lib.index([tmp_path / "photos"])  # nothing waits: vectors are not work
        assert (again.indexed, again.skipped_unchanged) == (0, 6)
        filled = lib.index([tmp_path / "photos"], vectors=True)
        assert filled.indexed == 6
        res = lib.search(tmp_path / "photos" / "p001.jpg", pipeline="global", exclude_self=False)
        assert res.missing_vectors == 0
        assert res.hits[0].path.endswith("p001.jpg")


def test_a_model_trained_on_photos_is_run_at_index_time(tmp_path):
    """A checkpoint that records the classes it learned ranks with its vectors: indexing
    computes them without being asked."""
    trained = tmp_path / "trained"
    shutil.copytree(bundled_model_dir(), trained)
    cfg = json.loads((trained / "config.json").read_text())
    cfg["extra"] = {"classes": 12, "epoch": 3}
    (trained / "config.json").write_text(json.dumps(cfg))
    _photos(tmp_path / "photos", 4)
    with Library(tmp_path / "lib") as lib:
        assert lib.networks.needs_vectors(str(trained))
        assert not lib.networks.needs_vectors("default")
        s = lib.index([tmp_path / "photos"], model=str(trained))
        assert s.indexed == 4
    assert _vectors(tmp_path / "lib") == 4


def test_filling_vectors_is_resumable_after_a_kill(tmp_path, capsys):
    photos, lib = tmp_path / "photos", tmp_path / "lib"
    n = 40
    _photos(photos, n)
    assert main(["index", str(photos), "--library", str(lib), "--json"]) == 0
    capsys.readouterr()
    assert _vectors(lib) == 0
    argv = ["index", str(photos), "--library", str(lib), "--vectors", "--json"]
    run_killed(KILL_AFTER_FIRST_COMMIT, *argv)
    done = _vectors(lib)
    assert 0 < done < n  # the kill kept what was committed
    assert main(argv) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["indexed"], s["failed"]) == (n - done, 0)  # only the rest was described
    assert _vectors(lib) == n
    assert main(["status", "--library", str(lib), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["folders"][0]["indexed"] == n


def test_the_search_command_names_the_photos_a_global_ranking_cannot_see(tmp_path, capsys):
    _photos(tmp_path / "photos", 3)
    lib = str(tmp_path / "lib")
    assert main(["index", str(tmp_path / "photos"), "--library", lib]) == 0
    capsys.readouterr()
    q = str(tmp_path / "photos" / "p000.jpg")
    assert main(["search", q, "--library", lib, "--pipeline", "global"]) == 0
    out = capsys.readouterr().out
    assert "3 photos have no vector of this model yet" in out
    assert "index --vectors" in out


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_rate_is_a_moving_average_of_this_run():
    """An early burst does not promise too much: after a slowdown the rate and the time left
    follow the last window within a window's time, and they move while work goes on."""
    clock = _Clock()
    rate = Rate(window=30.0, clock=clock)
    rate.update(0)
    assert rate.per_second() is None and rate.text(0, 1000) == "measuring the rate"
    done = 0
    for _ in range(10):  # 20 photos/s for 10 s (decodes that ran ahead, say)
        clock.t += 1.0
        done += 20
        rate.update(done)
    assert rate.per_second() == pytest.approx(20.0)
    lefts = []
    for _ in range(60):  # then 2 photos/s
        clock.t += 1.0
        done += 2
        rate.update(done)
        lefts.append(rate.seconds_left(1000 - done))
    assert rate.per_second() == pytest.approx(2.0)
    assert rate.seconds_left(1000 - done) == pytest.approx((1000 - done) / 2.0)
    assert all(b != a for a, b in itertools.pairwise(lefts))  # it keeps moving
    assert "2.0 photos/s" in rate.text(done, 1000)
    assert format_seconds(3725) == "1h02m" and format_seconds(65) == "1m05s"
    assert format_seconds(None) == "?"


def test_the_index_progress_reports_the_measured_rate(tmp_path):
    _photos(tmp_path / "photos", 12)
    seen = []
    with Library(tmp_path / "lib") as lib:
        lib.index([tmp_path / "photos"], progress=lambda d, t, m: seen.append((d, t, m)))
    assert (0, 12, "indexing: 12 photos to describe, starting") in seen
    work = [m for d, t, m in seen if t == 12 and d > 0]
    assert len(work) == 12
    assert work[0] == "indexing: measuring the rate"
    assert all(m.startswith("indexing: ") for m in work)
    assert not any("ETA" in m for m in work)


def test_the_saved_inverted_file_is_mapped_and_ranks_as_the_built_one(tmp_path):
    """A search process maps the postings from the saved file instead of reading them all:
    the same scores as the inverted file built from SQLite, and a query reads only its words'
    postings."""
    import numpy as np

    from engine.library.index.inverted import LocalIndex

    _photos(tmp_path / "photos", 10, size=(160, 120))
    with Library(tmp_path / "lib") as lib:
        lib.index([tmp_path / "photos"])
        book = lib.codebook()
        built = LocalIndex.build(lib.store, book.fingerprint, book.size)
        code = lib.query(tmp_path / "photos" / "p003.jpg").code
    loaded, reason = LocalIndex.load(tmp_path / "lib" / "index", book.fingerprint)
    assert reason == "ok"
    for postings in (loaded.ivf.bits, loaded.ivf.img):
        assert _mapped(postings)
    assert not _mapped(built.ivf.bits)
    np.testing.assert_allclose(loaded.ivf.gamma, built.ivf.gamma, rtol=1e-6)
    a = loaded.ivf.scores(*code.terms(len(loaded.ivf)))
    b = built.ivf.scores(*code.terms(len(built.ivf)))
    assert np.array_equal(loaded.ivf.ids, built.ivf.ids)
    np.testing.assert_allclose(a, b, rtol=1e-6)


def _mapped(a) -> bool:
    """Whether the array's memory is a file mapping (somewhere down its chain of views)."""
    import mmap

    while a is not None:
        if isinstance(a, mmap.mmap):
            return True
        a = getattr(a, "base", None)
    return False
