"""``bench index --breakdown``: where indexing's time goes, on the machine it runs on.

1. **Stages**, one photo at a time on one core, through the product's own functions
   (``describe`` and ``asmk.encode`` with a ``Laps``): decode, resize, SIFT detection and
   description, RootSIFT, perceptual hash, word assignment, ASMK aggregation; the store's
   writes of those photos in the batches indexing commits; the network on the photos, for a
   library whose model needs its vectors.
2. **End to end**: ``Library.index`` of the folder into a fresh library (all cores), the rate
   it reports while it works against the truth (the time left it showed 30 s in, against the
   time it really took), and its peak resident memory.
3. **The bare loop**: Pillow decode and the same OpenCV SIFT over the same files on as many
   processes as indexing uses, nothing else — what the features themselves cost.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from engine.photo.formats import is_photo_name

#: seconds into indexing at which the time left shown is compared with the truth
ETA_AT = 30.0
#: photos of the folder the bare loop runs over (before and after indexing)
BARE_PHOTOS = 500


def _photos(folder: str | os.PathLike, count: int | None) -> list[Path]:
    paths = Path(folder).rglob("*")
    paths = sorted(p for p in paths if p.is_file() and is_photo_name(os.fsencode(p.name)))
    return paths[:count] if count else paths


def stage_seconds(paths: list[Path], network_photos: int = 20) -> dict[str, float]:
    """Seconds per photo of each stage (one core)."""
    import cv2

    from engine.library.index.indexer import COMMIT_EVERY
    from engine.library.store import FileState, Store
    from engine.match.asmk import encode
    from engine.match.codebook import default_codebook
    from engine.match.describe import Laps, describe

    cv2.setNumThreads(1)
    book = default_codebook()
    laps = Laps()
    described = {}
    for p in paths:
        d = describe(p, laps=laps)
        d.code = encode(d.feats, book, laps)
        described[os.fsencode(p)] = d
    per = {k: v / len(paths) for k, v in laps.seconds.items()}
    with tempfile.TemporaryDirectory(prefix="vs-bench-store-") as tmp:
        store = Store(tmp)
        fid, _, _ = store.files.add_folder(paths[0].parent)
        store.files.add_files(
            [FileState(fid, os.fsencode(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
        )
        rows = [(r, described[r.path]) for r in store.files.files_in_folder(fid).values()]
        model = store.models.ensure("bench", "bench", {}, 1).id
        # registered as indexing registers the shipped codebook: its centroids are not stored
        store.codes.ensure_codebook(book.fingerprint, book.size, book.meta)
        t = time.perf_counter()
        for s in range(0, len(rows), COMMIT_EVERY):
            part = rows[s : s + COMMIT_EVERY]
            store.vectors.record_extractions(
                model, [(r.id, None, d.original_size) for r, d in part]
            )
            store.codes.record_local(book.fingerprint, [(r.id, d.code, d.phash) for r, d in part])
        per["store writes"] = (time.perf_counter() - t) / len(rows)
        store.close()
    per["network (only when ranking uses it)"] = _network_seconds(paths[:network_photos])
    per["total without the network"] = sum(v for k, v in per.items() if not k.startswith("network"))
    return per


def _on_one_core(fn, *args):
    """``fn(*args)`` in a fresh process with one BLAS thread, as indexing's workers run."""
    import multiprocessing as mp

    from engine.match.workers import ONE_THREAD, environment

    spawn = mp.get_context("spawn")
    with environment(ONE_THREAD), ProcessPoolExecutor(1, mp_context=spawn) as pool:
        return pool.submit(fn, *args).result()


def _network_seconds(paths: list[Path]) -> float:
    """Seconds per photo of the default network (decode for it included)."""
    from engine.match.describe import describe
    from engine.network.extraction import Prepared
    from engine.network.loader import open_extractor

    ex, _ = open_extractor("default")
    t = time.perf_counter()
    for p in paths:
        d = describe(p, image_size=ex.image_size, local=False)
        ex.run([Prepared(d.pixels, d.original_size, None, str(p))])
    return (time.perf_counter() - t) / max(len(paths), 1)


def _bare(path: str, long_side: int, features: int, contrast: float) -> int:
    import cv2
    import numpy as np
    from PIL import Image

    cv2.setNumThreads(1)
    with Image.open(path) as im:
        im.draft("L", (long_side, long_side))
        im = im.convert("L")
        if max(im.size) > long_side:
            im.thumbnail((long_side, long_side), Image.Resampling.BILINEAR)
        gray = np.asarray(im)
    sift = cv2.SIFT_create(nfeatures=features, contrastThreshold=contrast)
    kps, _ = sift.detectAndCompute(gray, None)
    return len(kps)


def bare_rate(paths: list[Path], workers: int) -> float:
    """Photos per second of Pillow decode + OpenCV SIFT alone on ``workers`` processes."""
    import multiprocessing as mp

    from engine.match.describe import DEFAULT

    args = (DEFAULT.long_side, DEFAULT.max_features, DEFAULT.contrast_threshold)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        list(pool.map(_bare, [str(paths[0])] * workers, *[[a] * workers for a in args]))
        t = time.perf_counter()
        list(pool.map(_bare, map(str, paths), *[[a] * len(paths) for a in args], chunksize=4))
        return len(paths) / (time.perf_counter() - t)


_LEFT = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)? left")


def _seconds_left(message: str) -> float | None:
    m = _LEFT.search(message)
    if m is None or not any(m.groups()):
        return None
    h, mi, s = (int(g or 0) for g in m.groups())
    return 3600 * h + 60 * mi + s


def end_to_end(folder: Path) -> dict:
    """Index ``folder`` into a fresh library as ``visual-search index`` does."""
    from engine.library import Library

    seen: list[tuple[float, str]] = []
    t0 = time.perf_counter()

    def progress(done: int, total: int, message: str) -> None:
        seen.append((time.perf_counter() - t0, message))

    with tempfile.TemporaryDirectory(prefix="vs-bench-lib-") as tmp:
        with Library(tmp) as lib:
            s = lib.index([folder], progress=progress)
        seconds = time.perf_counter() - t0
    out = {"photos": s.indexed, "seconds": seconds, "photos_per_s": s.indexed / seconds}
    late = [(t, _seconds_left(m)) for t, m in seen if t >= min(ETA_AT, seconds / 3)]
    late = [(t, left) for t, left in late if left is not None]
    if late:
        t, left = late[0]
        out["eta_at_s"] = round(t, 1)
        out["eta_predicted_s"] = round(t + left, 1)
        out["eta_error"] = round((t + left - seconds) / seconds, 3)
    return out


def bench_index_breakdown(
    photos: str | os.PathLike,
    count: int | None = None,
    stage_photos: int = 60,
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Stages, end to end and the bare loop on the photos of ``photos`` (the first ``count``)."""
    from engine.cores import available_cores

    paths = _photos(photos, count)
    if not paths:
        raise ValueError(f"{photos}: no photos")
    with tempfile.TemporaryDirectory(prefix="vs-bench-photos-") as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for p in paths:  # the folder indexed holds exactly these photos
            shutil.copy2(p, folder / p.name)
        copies = sorted(folder.iterdir())
        per = _on_one_core(stage_seconds, copies[:stage_photos])
        workers = available_cores()
        sample = copies[:BARE_PHOTOS]  # a rate: a sample of the folder measures it
        bare = bare_rate(sample, workers)
        e2e = end_to_end(folder)
        bare_after = bare_rate(sample, workers)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bare_mean = (bare + bare_after) / 2
    row = {
        "photos": len(paths),
        "cores": workers,
        "stage_ms_per_photo": {k: round(1000 * v, 1) for k, v in per.items()},
        "index_photos_per_s": round(e2e["photos_per_s"], 2),
        "bare_decode_sift_photos_per_s": round(bare_mean, 2),
        "index_vs_bare": round(e2e["photos_per_s"] / bare_mean, 3),
        "peak_rss_mb_main_process": round(peak_mb),
        **{k: v for k, v in e2e.items() if k.startswith("eta")},
    }
    if log:
        log(f"{len(paths)} photos, {workers} cores; per photo on one core:")
        for k, v in row["stage_ms_per_photo"].items():
            log(f"  {k:<40} {v:8.1f} ms")
        log(
            f"index end to end {row['index_photos_per_s']:.2f} photos/s; bare decode + SIFT "
            f"{bare_mean:.2f} photos/s on {workers} processes (before {bare:.2f}, after "
            f"{bare_after:.2f}); index / bare {row['index_vs_bare']:.2f}"
        )
        log(f"peak resident memory of the indexing process: {peak_mb:.0f} MB")
        if "eta_error" in row:
            log(
                f"time left shown at {row['eta_at_s']} s: finish predicted at "
                f"{row['eta_predicted_s']} s, took {e2e['seconds']:.1f} s "
                f"(error {100 * row['eta_error']:+.1f} %)"
            )
    return [row]
