"""``visual-search --self-test``: index the bundled sample photos into a temporary library with
the default model, search one, check that the other photo of the same object comes first, and
draw the network's attention heatmap of the query (and say which runtime ran it).
Needs no window, no network and no user data; exit status 0 means the install works."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path


def run_self_test() -> dict:
    from engine.library import Library
    from resources import sample_photos

    t0 = time.perf_counter()
    photos = sample_photos()
    if len(photos) < 2:
        return {"ok": False, "reason": "the bundled sample photos are missing"}
    tmp = Path(tempfile.mkdtemp(prefix="vs-self-test-"))
    try:
        lib = Library(tmp / "library")
        summary = lib.index([str(photos[0].parent)], model="default")
        query = photos[0]  # obj00_0.jpg; obj00_1.jpg shows the same object
        expected = query.name.replace("_0.", "_1.")
        res = lib.search(query, k=5, rerank=len(photos))
        heat = lib.attention_overlay(query, max_side=64)
        runtime = lib.model()[0].runtime
        lib.close()
        top = Path(res.hits[0].path).name if res.hits else None
        heat_ok = heat.ndim == 3 and heat.shape[2] == 4 and max(heat.shape[:2]) == 64
        return {
            "ok": summary.indexed == len(photos)
            and summary.failed == 0
            and top == expected
            and heat_ok,
            "indexed": summary.indexed,
            "failed": summary.failed,
            "query": query.name,
            "top": top,
            "expected": expected,
            "heatmap": list(heat.shape),
            "runtime": runtime,
            "seconds": round(time.perf_counter() - t0, 2),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    try:
        out = run_self_test()
    except Exception as e:  # report, never a traceback
        out = {"ok": False, "reason": f"{type(e).__name__}: {e}"}
    print(json.dumps(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
