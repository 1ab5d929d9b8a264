"""Two first indexes of a new library started at the same instant: one makes the tables and
the other waits for it (SQLite's write lock), then either indexes too or says the library is
busy — never "table meta already exists" or any other error about the database."""

from __future__ import annotations

import subprocess
import sys
import time

from engine.cli import main
from tests.helpers import MODEL, ROOT

# `visual-search ARGS` after the imports a first open needs, at the instant argv[1]
AT_ONCE = """
import sys, time
from engine.cli import main
import engine.library.store.store
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
sys.exit(main(sys.argv[2:]))
"""

BUSY = "is updating this library"


def test_two_first_indexes_at_once_one_proceeds_the_other_waits_or_is_busy(tmp_path, capsys):
    empty = tmp_path / "nothing-yet"
    empty.mkdir()
    for attempt in range(3):
        lib = tmp_path / f"lib{attempt}"
        argv = ["index", str(empty), "--library", str(lib), "--model", MODEL]
        start = f"{time.time() + 3.0:.3f}"  # after both interpreters have imported
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", AT_ONCE, start, *argv],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
        for code, err in results:
            assert code == 0 or (code in (1, 2) and BUSY in err), (attempt, results)
        assert any(code == 0 for code, _ in results), results
        assert main(["status", "--library", str(lib), "--json"]) == 0
        assert '"indexed": 0' in capsys.readouterr().out


def test_two_processes_creating_one_library_at_the_same_instant_both_open_it(tmp_path):
    """Switching a new database file to WAL takes a lock SQLite's busy timeout does not wait
    for; two processes released by one barrier used to get "database is locked" about half
    the time (``sqlite.set_wal`` tries again)."""
    import multiprocessing as mp

    from engine.library.store import Store

    def create(lib, barrier, errors):
        barrier.wait()
        try:
            Store(lib).close()
        except Exception as e:  # reported to the parent, which fails the test
            errors.put(f"{type(e).__name__}: {e}")
        errors.put("done")

    ctx = mp.get_context("fork")
    failures = []
    for attempt in range(12):
        barrier, errors = ctx.Barrier(2), ctx.Queue()
        lib = tmp_path / f"lib{attempt}"
        procs = [ctx.Process(target=create, args=(lib, barrier, errors)) for _ in range(2)]
        for p in procs:
            p.start()
        said = [errors.get(timeout=120) for _ in range(2)]
        while said.count("done") < 2:
            said.append(errors.get(timeout=120))
        for p in procs:
            p.join(timeout=60)
        failures += [s for s in said if s != "done"]
    assert not failures, failures
