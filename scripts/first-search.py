#!/usr/bin/env python
"""Time the window's first search in a fresh process.

    python scripts/first-search.py LIBRARY QUERY [--repeats 3] [--model SPEC] [--profile FILE]

Each repeat starts a fresh Python process that imports the application, opens LIBRARY and
builds the main window offscreen exactly as ``visual-search gui`` does (``app.launch``), shows
it, then drops QUERY on it (a real drop event: the window's own search path, the search
panel's worker) and waits until the results are in the grid and painted. It prints one JSON
object (every repeat, and the median of each figure) and a one-line summary:

- ``import_s``: importing the application's window module and the engine facade;
- ``window_s``: from the process's first line to the main window shown (imports included);
- ``first_search_s``: from the drop to the results shown (the query decoded, the search run
  on the worker, the grid filled and painted); ``engine_s`` is the engine's own share
  (``SearchResult.seconds``).

The window starts loading the model and the indexes as it opens (``SearchPanel.warm_up``);
``--no-warm-up`` measures without that. ``--profile FILE`` also writes a cProfile of the
first search's worker thread (the last repeat) to FILE (read it: ``python -m pstats FILE``).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

FIGURES = ("import_s", "window_s", "first_search_s", "engine_s")


def child(
    library: str, query: str, model: str | None, profile: str | None, warm: bool, pause: float
) -> dict:
    """One fresh process: the figures of its first search."""
    t = time.perf_counter()
    from PySide6.QtCore import QEventLoop, QMimeData, QPointF, Qt, QTimer, QUrl
    from PySide6.QtGui import QDropEvent
    from PySide6.QtWidgets import QApplication

    from app.gui import MainWindow  # noqa: F401
    from app.launch import open_main  # the window module and, through it, the engine facade

    import_s = time.perf_counter() - t
    if not warm:
        from app.panels.search_panel import SearchPanel

        SearchPanel.warm_up = lambda self: None
    app = QApplication.instance() or QApplication(sys.argv[:1])
    win = open_main(argparse.Namespace(library=library, model=model))
    win.show()
    app.processEvents()
    window_s = time.perf_counter() - T0
    if pause > 0:  # a person takes a moment to drop a photo: the window stays responsive
        idle = QEventLoop()
        QTimer.singleShot(int(pause * 1000), idle.quit)
        idle.exec()

    if profile:
        _profile_workers(profile)
    sp = win.search_panel
    done: list = []
    loop = QEventLoop()
    sp.search_finished.connect(lambda res: (done.append(res), loop.quit()))
    QTimer.singleShot(600_000, loop.quit)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(os.path.abspath(query))])
    drop = QDropEvent(
        QPointF(win.rect().center()),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    t = time.perf_counter()
    win.dropEvent(drop)
    if not done:
        loop.exec()
    res = done[0] if done else None
    if res is None:
        raise SystemExit(f"the search failed: {sp.search_label.text()}")
    sp.results_view.viewport().repaint()  # the grid painted with the results
    app.processEvents()
    first_search_s = time.perf_counter() - t
    out = {
        "import_s": import_s,
        "window_s": window_s,
        "first_search_s": first_search_s,
        "engine_s": res.seconds,
        "results": sp.results.rowCount(),
        "matches": res.matches,
        "status": sp.search_label.text(),
    }
    win.close()
    return out


def _profile_workers(path: str) -> None:
    """Profile the search panel's worker (the search) into ``path``."""
    import cProfile

    from app.workers import Worker

    run = Worker.run

    def profiled(self) -> None:
        if "SearchPanel.search" not in getattr(self.fn, "__qualname__", ""):
            run(self)  # the query's decoding for display, thumbnails…
            return
        prof = cProfile.Profile()
        prof.enable()
        try:
            run(self)
        finally:
            prof.disable()
            if not os.path.exists(path):
                prof.dump_stats(path)

    Worker.run = profiled


def main() -> int:
    p = argparse.ArgumentParser(description="time the window's first search in a fresh process")
    p.add_argument("library")
    p.add_argument("query")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", default=None, help="model (default: the library's)")
    p.add_argument("--profile", default=None, metavar="FILE", help="cProfile of the search")
    p.add_argument(
        "--no-warm-up",
        dest="warm",
        action="store_false",
        help="without the window's warm-up (models and indexes loaded as the window opens)",
    )
    p.add_argument(
        "--pause",
        type=float,
        default=0.0,
        metavar="S",
        help="seconds between the window shown and the drop (default 0: at once)",
    )
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        out = child(args.library, args.query, args.model, args.profile, args.warm, args.pause)
        print(json.dumps(out))
        return 0
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    runs = []
    for i in range(args.repeats):
        argv = [sys.executable, __file__, args.library, args.query, "--child"]
        if args.model:
            argv += ["--model", args.model]
        if not args.warm:
            argv.append("--no-warm-up")
        argv += ["--pause", str(args.pause)]
        if args.profile and i == args.repeats - 1:
            if os.path.exists(args.profile):
                os.remove(args.profile)
            argv += ["--profile", args.profile]
        t = time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode or 1
        run = json.loads(proc.stdout.strip().splitlines()[-1])
        run["process_s"] = time.perf_counter() - t
        runs.append(run)
    median = {k: statistics.median(r[k] for r in runs) for k in (*FIGURES, "process_s")}
    figures = {
        "library": args.library,
        "query": args.query,
        "warm_up": args.warm,
        "pause_s": args.pause,
        "runs": runs,
        "median": median,
    }
    print(json.dumps(figures))
    print(
        f"first search {median['first_search_s']:.2f} s (engine {median['engine_s']:.2f} s), "
        f"window shown at {median['window_s']:.2f} s (imports {median['import_s']:.2f} s); "
        f"median of {len(runs)} fresh processes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
