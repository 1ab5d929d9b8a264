"""``bench search``, ``bench rescan``, ``bench index``: the library's index, scan and
indexing throughput."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from engine.training.generator import render_scene


def clustered_unit_vectors(n: int, d: int, clusters: int, seed: int = 0) -> np.ndarray:
    """``(n, d) float32`` unit vectors around random centres (descriptors of photo
    collections cluster; uniform random vectors would make every index look bad)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    out = np.empty((n, d), np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        x = centres[rng.integers(0, clusters, m)]
        x += 0.35 * rng.standard_normal((m, d)).astype(np.float32)
        out[s : s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def bench_search(
    sizes: list[int] | tuple[int, ...] = (10_000, 100_000, 1_000_000),
    dim: int = 512,
    queries: int = 200,
    kinds: tuple[str, ...] = ("flat", "hnsw"),
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Warm single-query latency (p50/p95 ms) and recall@10 of each index kind vs exact
    (without FAISS, only NumPy's flat index)."""
    from engine import faiss_device
    from engine.library.index.vector_index import VectorIndex

    kinds = tuple(k for k in kinds if k == "flat" or faiss_device.available())

    rows = []
    for n in sizes:
        x = clustered_unit_vectors(n + queries, dim, max(10, n // 100))
        xb, xq = x[:n], x[n:]
        ids = np.arange(n, dtype=np.int64)
        truth = None
        for kind in kinds:
            vi = VectorIndex.empty(dim, kind)
            t = time.perf_counter()
            vi.add(ids, xb)
            build = time.perf_counter() - t
            vi.search(xq[:5], 10)  # warm
            lat, found = [], []
            for q in xq:
                t = time.perf_counter()
                _, I = vi.search(q[None], 10)
                lat.append(time.perf_counter() - t)
                found.append(I[0])
            found = np.array(found)
            if kind == "flat":
                truth = found
            recall = (
                float(
                    np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
                )
                if truth is not None
                else float("nan")
            )
            row = {
                "n": n,
                "dim": dim,
                "kind": kind,
                "build_s": round(build, 2),
                "p50_ms": round(1e3 * float(np.percentile(lat, 50)), 3),
                "p95_ms": round(1e3 * float(np.percentile(lat, 95)), 3),
                "recall@10": round(recall, 4),
                "index_bytes_per_vector": round(_index_bytes(vi) / n, 1),
            }
            rows.append(row)
            if log:
                log(
                    f"{n:>9,} x {dim} {kind:<5} build {row['build_s']:7.2f} s  "
                    f"p50 {row['p50_ms']:8.3f} ms  p95 {row['p95_ms']:8.3f} ms  "
                    f"recall@10 {row['recall@10']:.3f}  "
                    f"{row['index_bytes_per_vector']:.0f} B/vector"
                )
            del vi
    return rows


def _index_bytes(vi) -> int:
    if vi.numpy:
        return vi.index.nbytes
    import faiss

    return int(faiss.serialize_index(vi.index).nbytes)


def bench_rescan(
    n: int = 100_000, log: Callable[[str], None] | None = print, keep: str | None = None
) -> dict:
    """Seconds to re-scan an unchanged library of ``n`` files (synthetic entries: tiny files on
    disk, recorded in the store with a vector each, as if extraction had run)."""
    from engine.library import Library
    from engine.library.store import FileState, fs_bytes

    root = Path(keep or tempfile.mkdtemp(prefix="vs-rescan-"))
    photos = root / "photos"
    lib = Library(root / "lib", device="cpu")
    _, row = lib.model("gem:resnet18")
    t = time.perf_counter()
    if not photos.exists():
        photos.mkdir(parents=True)
        fid, _, _ = lib.store.files.add_folder(photos)
        files = []
        for i in range(n):
            sub = photos / f"{i // 1000:03d}"
            if i % 1000 == 0:
                sub.mkdir()
            p = sub / f"IMG_{i:06d}.jpg"
            p.write_bytes(b"\xff\xd8\xff")
            st = p.stat()
            files.append(FileState(fid, fs_bytes(p), st.st_size, st.st_mtime_ns))
        lib.store.files.add_files(files)
        vec = np.zeros(row.dim, np.float32)
        vec[0] = 1
        ids = [r.id for r in lib.store.files.files_in_folder(fid).values()]
        lib.store.vectors.record_extractions(row.id, [(i, vec, None) for i in ids])
    setup = time.perf_counter() - t
    lib.vector_index(row)  # build and save the cache once, as a real run would have
    times = []
    for _ in range(3):
        t = time.perf_counter()
        s = lib.index([photos], model="gem:resnet18")
        times.append(time.perf_counter() - t)
        assert s.indexed == 0 and s.skipped_unchanged == n, s
    lib.close()
    out = {"files": n, "setup_s": round(setup, 1), "rescan_s": round(min(times), 3)}
    if log:
        log(f"re-scan of an unchanged library of {n:,} files: {out['rescan_s']:.2f} s")
    return out


def bench_unchanged(
    count: int = 300, repeats: int = 3, log: Callable[[str], None] | None = print
) -> dict:
    """Wall seconds of ``visual-search index`` (a fresh process, as a user runs it) on a
    folder of ``count`` photos that are all indexed already: the scan, with no model load."""
    import subprocess
    import sys

    from engine.library import Library

    root = Path(tempfile.mkdtemp(prefix="vs-bench-unchanged-"))
    _write_jpegs(root / "photos", count, (160, 120))
    with Library(root / "lib") as lib:
        first = lib.index([root / "photos"])
    cmd = [sys.executable, "-m", "engine", "index", str(root / "photos")]
    cmd += ["--library", str(root / "lib"), "--json"]
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    probe = "import sys\nfrom engine.cli.entry import main\nmain(sys.argv[1:])\n"
    probe += "print('torch' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", probe, *cmd[3:]], check=True, capture_output=True, text=True
    ).stdout.split()[-1]
    out = {
        "photos": count,
        "first_index_s": round(first.seconds, 2),
        "unchanged_index_s": round(min(times), 3),
        "torch_imported": loaded == "True",
    }
    if log:
        log(
            f"index of {count} unchanged photos: {out['unchanged_index_s']:.2f} s in a fresh "
            f"process (first index {out['first_index_s']:.1f} s; torch imported: "
            f"{out['torch_imported']})"
        )
    return out


#: width / height of the photos of a mixed folder: landscape 4:3, 3:2, 16:9, portraits, square
MIXED_ASPECTS = (4 / 3, 3 / 2, 16 / 9, 3 / 4, 2 / 3, 1.0)


def _write_jpegs(directory: Path, n: int, size: tuple[int, int], mixed: bool = False) -> list[Path]:
    """``n`` JPEGs of ``size`` (W, H); ``mixed``: of the same long side in the aspects of
    ``MIXED_ASPECTS`` in turn."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    long = max(size)
    for i in range(n):
        if mixed:
            a = MIXED_ASPECTS[i % len(MIXED_ASPECTS)]
            wh = (long, round(long / a)) if a >= 1 else (round(long * a), long)
        else:
            wh = size
        small, _ = render_scene([i % 50], seed=i, size=(640, 480))
        img = small.resize(wh, Image.Resampling.BILINEAR) if wh != (640, 480) else small
        p = directory / f"photo_{i:04d}.jpg"
        img.save(p, quality=90)
        paths.append(p)
    return paths


def bench_index(
    count: int = 40,
    sizes: tuple[tuple[int, int], ...] = ((4000, 3000), (1024, 768)),
    model: str = "default",
    mixed: bool = False,
    log: Callable[[str], None] | None = print,
) -> list[dict]:
    """Indexing throughput (photos/s) end to end vs the bare model forward on pre-decoded
    tensors; the ratio shows how much of decoding and I/O the pipeline hides. ``mixed``:
    folders of mixed aspect (landscape, portrait, square: see ``MIXED_ASPECTS``)."""
    from engine.library import Library

    rows = []
    for size in sizes:
        root = Path(tempfile.mkdtemp(prefix="vs-bench-index-"))
        paths = _write_jpegs(root / "photos", count, size, mixed)
        lib = Library(root / "lib")
        ex, _ = lib.model(model)
        prepared = [ex.prepare(p) for p in paths]  # the same photos, decoded beforehand
        ex.run(prepared[: ex.batch_size])  # warm
        t = time.perf_counter()
        for s in range(0, len(prepared), ex.batch_size):
            ex.run(prepared[s : s + ex.batch_size])
        _sync(ex)
        forward = len(prepared) / (time.perf_counter() - t)
        t = time.perf_counter()
        s = lib.index([root / "photos"], model=model, local=False)
        total = time.perf_counter() - t
        lib.close()
        rate = s.indexed / total
        both = Library(root / "lib-local")
        t = time.perf_counter()
        s2 = both.index([root / "photos"], model=model)
        local_rate = s2.indexed / (time.perf_counter() - t)
        both.close()
        row = {
            "photo": f"{size[0]}x{size[1]}" + (" mixed aspects" if mixed else ""),
            "photos": s.indexed,
            "batch_size": ex.batch_size,
            "device_decode": ex.device_decode,
            "model": model,
            "device": str(ex.device),
            "precision": ex.precision.name,
            "index_photos_per_s": round(rate, 3),
            "forward_photos_per_s": round(forward, 3),
            "ratio": round(rate / forward, 3),
            "index_with_local_photos_per_s": round(local_rate, 3),
            "local_vs_global_only": round(local_rate / rate, 3),
        }
        rows.append(row)
        if log:
            log(
                f"{row['photo']:>9} JPEGs: index {rate:.2f} photos/s (network only), "
                f"{local_rate:.2f}/s with local features ({row['local_vs_global_only']:.2f} of "
                f"it); bare forward on decoded tensors {forward:.2f}/s, ratio "
                f"{row['ratio']:.2f} ({ex.device}, {ex.precision.name})"
            )
    return rows


def _sync(ex) -> None:
    if ex.device.type == "cuda":
        import torch

        torch.cuda.synchronize()
