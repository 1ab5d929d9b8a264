"""``bench duplicates --manifest PATH``: pair precision and recall of the duplicates finder.

The set (``scripts/make_duplicates_benchmark.py``: real photos, copies of each kind, and
labelled pairs that are not copies) is indexed into a fresh temporary library (local features
only: duplicates read nothing else; with ``--keep-library DIR``, into ``DIR``, kept and
reused) and ``Library.duplicates`` runs as the window runs it. Its copy groups make pairs:
every two photos of a group. A pair is true when both photos are the same picture (one
*cluster* of the manifest: a picture and its copies).

Reported per copy kind: recall, the share of (picture, copy) pairs that the groups join; and
precision, the share of the groups' pairs that hold a copy of that kind which are true. Per
negative kind: how many of its labelled pairs were grouped as copies, and how many were
offered as similar shots instead. Beside each, a perceptual-hash baseline on the same photos:
a pair when the 64-bit DCT hashes (``engine.match.describe.phash`` on the upright photo at
640 px, as the library stores it) are within ``BASELINE_BITS`` bits.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

#: the baseline's pair: perceptual hashes within this many bits (of 64)
BASELINE_BITS = 8


def bench_duplicates(
    manifest: str | os.PathLike,
    log: Callable[[str], None] | None = print,
    keep_library: str | os.PathLike | None = None,
) -> dict:
    """The figures above for a ``manifest.json`` (its photos beside it)."""
    import numpy as np

    from engine.inputs import load_json
    from engine.library import Library
    from engine.tasks import Rate

    man = Path(manifest)
    m = load_json(man)
    say = log or (lambda s: None)
    root = man.parent.resolve()
    with tempfile.TemporaryDirectory(prefix="vs-bench-dup-") as tmp:
        lib_dir = Path(keep_library) if keep_library else Path(tmp) / "library"
        t = time.perf_counter()
        with Library(lib_dir) as lib:
            rate = Rate()

            def progress(done: int, total: int, message: str) -> None:
                rate.update(done)
                if done == total or done % 200 == 0:
                    say(f"  {message}")

            summary = lib.index([root], vectors=False, progress=progress)
            t_index = time.perf_counter() - t
            say(f"indexed {summary.indexed} photos in {t_index:.0f} s")
            t = time.perf_counter()
            last = [0.0]

            def dup_progress(done: int, total: int, message: str) -> None:
                if time.monotonic() - last[0] > 10 or done == total:
                    last[0] = time.monotonic()
                    say(f"  {message}")

            groups = lib.duplicates(progress=dup_progress, similar=True)
            t_dup = time.perf_counter() - t
            say(f"duplicates in {t_dup:.0f} s ({groups.checked} candidate pairs checked)")
            book = lib.codebook().fingerprint
            ids, hashes = lib.store.codes.phashes(book)
            paths = {r.id: r.display_path for r in lib.store.files.ok_files()}
    rel = {i: Path(p).resolve().relative_to(root).as_posix() for i, p in paths.items()}
    product = _pairs_of(groups.copies, root)
    similar = _pairs_of(groups.similar, root)
    u = np.asarray(hashes).view(np.uint64)
    baseline: set[frozenset] = set()
    for i in range(len(ids)):
        close = np.nonzero(np.bitwise_count(u[i] ^ u[i + 1 :]) <= BASELINE_BITS)[0]
        baseline.update(frozenset((rel[int(ids[i])], rel[int(ids[i + 1 + j])])) for j in close)
    out = {
        "manifest": str(man),
        "photos": len(m["photos"]),
        "index_seconds": round(t_index, 1),
        "duplicates_seconds": round(t_dup, 1),
        "baseline": f"pHash within {BASELINE_BITS} bits",
        **score(m, product, similar, baseline),
    }
    say(report(out))
    return out


def _pairs_of(groups, root: Path) -> set[frozenset]:
    out = set()
    for g in groups:
        names = [Path(h.path).resolve().relative_to(root).as_posix() for h in g]
        out.update(frozenset(p) for p in combinations(names, 2))
    return out


def score(m: dict, product: set, similar: set, baseline: set) -> dict:
    """Per copy kind and per negative kind, the product's figures and the baseline's."""
    cluster = {p["path"]: p["cluster"] for p in m["photos"]}
    kind = {p["path"]: p["kind"] for p in m["photos"]}

    def true(pair) -> bool:
        a, b = tuple(pair)
        return cluster[a] == cluster[b]

    copies = defaultdict(list)
    for c in m["copies"]:
        copies[c["kind"]].append(frozenset((c["a"], c["b"])))
    negatives = defaultdict(list)
    for n in m["negatives"]:
        negatives[n["kind"]].append(frozenset((n["a"], n["b"])))

    def figures(found: set) -> dict:
        rows = {}
        for k, pairs in copies.items():
            touching = [p for p in found if any(kind[x] == k for x in p)]
            rows[k] = {
                "pairs": len(pairs),
                "recall": sum(p in found for p in pairs) / len(pairs),
                "precision": (sum(true(p) for p in touching) / len(touching)) if touching else None,
            }
        false = [p for p in found if not true(p)]
        return {
            "copies": rows,
            "negatives": {
                k: {"pairs": len(ps), "grouped": sum(p in found for p in ps)}
                for k, ps in negatives.items()
            },
            "pairs": len(found),
            "false_pairs": len(false),
            "precision": (1 - len(false) / len(found)) if found else None,
        }

    product_fig = figures(product)
    for k, ps in negatives.items():
        product_fig["negatives"][k]["similar"] = sum(p in similar for p in ps)
    return {"product": product_fig, "phash": figures(baseline)}


def report(out: dict) -> str:
    """The tables as text."""
    p, b = out["product"], out["phash"]

    def f(x) -> str:
        return "  –  " if x is None else f"{x:.3f}"

    lines = [
        f"duplicates on {out['manifest']}: {out['photos']} photos; indexed in "
        f"{out['index_seconds']:.0f} s, duplicates found in {out['duplicates_seconds']:.0f} s",
        f"{'copy kind':<14}{'pairs':>6}  {'precision':>9} {'recall':>7}   "
        f"{'pHash prec.':>11} {'recall':>7}",
    ]
    for k, row in p["copies"].items():
        brow = b["copies"][k]
        lines.append(
            f"{k:<14}{row['pairs']:>6}  {f(row['precision']):>9} {f(row['recall']):>7}   "
            f"{f(brow['precision']):>11} {f(brow['recall']):>7}"
        )
    lines.append(
        f"{'all pairs':<14}{p['pairs']:>6}  {f(p['precision']):>9} {'':>7}   "
        f"{f(b['precision']):>11}   ({b['pairs']} pairs)"
    )
    lines.append(f"{'not a copy':<20}{'pairs':>6}  {'grouped':>8} {'similar':>8}   {'pHash':>6}")
    for k, row in p["negatives"].items():
        lines.append(
            f"{k:<20}{row['pairs']:>6}  {row['grouped']:>8} {row['similar']:>8}   "
            f"{b['negatives'][k]['grouped']:>6}"
        )
    lines.append(f"baseline: {out['baseline']}")
    return "\n".join(lines)


def bench_from_args(bench, args, log):
    """``visual-search bench duplicates``'s entry (``cmd_bench``'s registry)."""
    from engine.errors import VisualSearchError

    if not args.manifest:
        raise VisualSearchError(
            "bench duplicates needs --manifest FILE (scripts/make_duplicates_benchmark.py)"
        )
    return bench_duplicates(args.manifest, log=log, keep_library=args.keep_library)
