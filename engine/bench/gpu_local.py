"""Local features on the GPU against the CPU path (``gpu-bench``'s ``local`` section).

On one folder of JPEGs (real photos copied round-robin to ``count`` files, at 1024×768 or at
their own sizes), each into a fresh library with the bundled model:

- ``index`` end to end with SIFT on the GPU (``TorchWorkers``: decoding on ``decoders``
  processes) and on the CPU (OpenCV on one process per core), photos/s;
- the bare GPU part: SIFT and codes of pre-decoded images, photos/s once warm by batch size,
  at batch 32 also with kornia's own image-at-a-time loop and without cuDNN, and the first
  call's seconds (the device's set-up for a new shape);
- PyTorch operations (kernel launches) and host waits per batch of 32, all at once and with
  kornia's own loop;
- the bare CPU loop: Pillow decode + OpenCV SIFT on one process per core (``bench index
  --breakdown``'s), what the CPU path could reach;
- agreement of the GPU's features with the same code on the CPU (kornia both times), so that
  quality measured with ``VISUAL_SEARCH_FEATURES_ON=torch-cpu`` on a machine without a GPU
  speaks for the GPU too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _folder(photos: list[Path], root: Path, count: int, size: tuple[int, int] | None) -> Path:
    """``count`` JPEGs made from ``photos`` round-robin: resized and cropped to ``size``, or
    byte copies when ``size`` is None (names differ, so each is a photo of its own)."""
    from PIL import Image, ImageOps

    out = root / "photos"
    out.mkdir(parents=True)
    made: dict[Path, Path] = {}
    for i in range(count):
        src = photos[i % len(photos)]
        dst = out / f"p{i:05d}.jpg"
        if size is None:
            shutil.copyfile(src, dst)
            continue
        if src not in made:
            with Image.open(src) as im:
                im = ImageOps.fit(ImageOps.exif_transpose(im).convert("RGB"), size)
                im.save(dst, quality=90)
            made[src] = dst
        else:
            shutil.copyfile(made[src], dst)
    return out


def _index_rate(folder: Path, lib_dir: Path, on: str, row: dict | None = None) -> float:
    """Photos/s of ``index`` into a fresh library with features ``on``; with ``row``, the
    device thread's share of the run and its mean batch go there."""
    from engine.library import Library
    from engine.match.describers import FEATURES_ON_ENV
    from engine.match.torch_workers import BUSY

    saved = os.environ.get(FEATURES_ON_ENV)
    os.environ[FEATURES_ON_ENV] = on
    try:
        lib = Library(lib_dir)
        before = dict(BUSY)
        t = time.perf_counter()
        s = lib.index([folder])
        seconds = time.perf_counter() - t
        rate = s.indexed / seconds
        lib.close()
        if row is not None and BUSY["batches"] > before["batches"]:
            row["device_thread_busy_share"] = round(
                (BUSY["seconds"] - before["seconds"]) / seconds, 3
            )
            row["device_thread_cpu_share"] = round(
                (BUSY["cpu_seconds"] - before["cpu_seconds"]) / seconds, 3
            )
            row["mean_batch"] = round(
                (BUSY["photos"] - before["photos"]) / (BUSY["batches"] - before["batches"]), 1
            )
    finally:
        if saved is None:
            os.environ.pop(FEATURES_ON_ENV, None)
        else:
            os.environ[FEATURES_ON_ENV] = saved
    return rate


def _grays(folder: Path, n: int) -> list[np.ndarray]:
    from engine.match.describe import describe

    out = []
    for p in sorted(folder.iterdir())[:n]:
        d = describe(p, sift_later=True)
        if d.sift_input is not None:
            out.append(d.sift_input[0])
    return out


def _agreement(grays: list[np.ndarray], device: str) -> dict:
    """The same kornia SIFT on ``device`` and on the CPU: share of keypoints found at the same
    place (within 0.5 px), and the median cosine of their descriptors."""
    from engine.match.codebook import default_codebook
    from engine.match.torch_sift import TorchSift

    book = default_codebook()
    a = TorchSift(book, device=device).features(grays)
    b = TorchSift(book, device="cpu").features(grays)
    same, total, cos = 0, 0, []
    for fa, fb in zip(a, b, strict=True):
        if not len(fa) or not len(fb):
            continue
        d = ((fa.xy[:, None, :] - fb.xy[None]) ** 2).sum(-1)
        j = d.argmin(1)
        close = d[np.arange(len(fa)), j] < 0.25
        same += int(close.sum())
        total += len(fa)
        cos.extend((fa.desc[close] * fb.desc[j[close]]).sum(1).tolist())
    return {
        "same_place": round(same / max(total, 1), 3),
        "descriptor_cosine_median": round(float(np.median(cos)), 4) if cos else None,
    }


def _bare_rates(
    grays: list[np.ndarray], device: str, repeats: int, log: Callable[[str], None] | None = None
) -> dict:
    """SIFT and codes of decoded images on ``device``, photos/s once warm, by batch size, with
    kornia's own loop and without cuDNN; and the seconds of the first call at each (set-up
    included)."""
    import torch

    from engine.match.codebook import default_codebook
    from engine.match.torch_sift import TorchSift

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    book = default_codebook()
    out: dict = {}
    # (batch, cuDNN, the whole batch at once): batch 32 as indexing runs it, then what sets it
    # apart — kornia's own image-at-a-time loop, no cuDNN — then the other batch sizes (the
    # most telling first: a run cut short by its time limit still printed them)
    if device == "cuda":
        runs = [(32, True, True), (32, True, False), (32, False, True)]
        runs += [(64, True, True), (8, True, True), (1, True, True)]
    else:
        runs = [(1, True, True), (4, True, True), (4, True, False)]
    for batch, cudnn, whole in runs:
        batch = min(batch, len(grays))
        sift = TorchSift(book, device=device, cudnn=cudnn, batch=batch, whole_batch=whole)
        part = grays[: max(batch, min(64, len(grays)))]
        t = time.perf_counter()
        sift.encode(sift.features(part))
        sync()
        first = time.perf_counter() - t
        t, cpu = time.perf_counter(), time.thread_time()
        for _ in range(repeats):
            sift.encode(sift.features(part))
        sync()
        wall = time.perf_counter() - t
        rate = repeats * len(part) / wall
        key = f"batch {batch}" + ("" if cudnn else ", no cuDNN")
        key += "" if whole else ", kornia's image-at-a-time loop"
        # the calling thread's CPU time over the wall time: near 1, Python and the kernel
        # launches are the limit (the device waits for the host); well below, the device is
        out[key] = {
            "photos_per_s": round(rate, 2),
            "first_call_s": round(first, 2),
            "host_thread_cpu_share": round((time.thread_time() - cpu) / wall, 3),
        }
        if device == "cuda" and batch == 32 and whole and cudnn:
            # CUDA's wait may spin on the CPU, so the CPU share alone cannot tell a thread that
            # launches from one that waits: the kernels' own time says how busy the GPU was
            try:
                out[key]["gpu_kernel_share"] = _kernel_share(sift, part, wall / repeats)
            except Exception as e:  # a profiler that fails must not cost the figures
                out[key]["gpu_kernel_share"] = f"{type(e).__name__}: {e}"
        if log:
            log(f"{key}: {out[key]}")
    # the set-up again for photos of another shape (the same ones turned to portrait)
    sift = TorchSift(book, device=device, batch=min(32, len(grays)))
    turned = [np.ascontiguousarray(g.T) for g in grays[: sift.batch]]
    t = time.perf_counter()
    sift.encode(sift.features(turned))
    sync()
    out["first call at a new photo shape (portrait), s"] = round(time.perf_counter() - t, 2)
    return out


def _kernel_share(sift, part: list[np.ndarray], wall: float) -> float:
    """The GPU's kernel time for one batch over that batch's wall time unprofiled (``wall``):
    near 1 the device is the limit; well below, the host (launches, Python, waits) is."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        sift.encode(sift.features(part))
        torch.cuda.synchronize()
    busy = sum(e.self_device_time_total for e in prof.key_averages()) / 1e6
    return round(busy / wall, 3)


#: PyTorch operations that make the host wait for the device (a result's size or value)
_WAITS = (
    "aten.nonzero",
    "aten._local_scalar_dense",
    "aten._unique2",
    "aten.unique_dim",
    "aten._to_copy to the host",
)


#: PyTorch operations that only make a view or read metadata: no kernel runs for them
_VIEW_NAMES = (
    "slice select view _unsafe_view reshape unsqueeze squeeze unbind expand permute transpose t "
    "alias detach detach_ lift_fresh split split_with_sizes as_strided flatten unflatten "
    "sym_size sym_stride is_nonzero numel dim size stride"
)
_VIEWS = tuple(f"aten.{op}." for op in _VIEW_NAMES.split())


def _operations(grays: list[np.ndarray], device: str, batch: int = 32) -> dict:
    """PyTorch operations that run a kernel (views left out) and host waits to detect
    and to describe one batch, all at once (``torch_sift_batch``) and with kornia's own
    image-at-a-time loop: what a GPU pays per batch however fast its kernels are."""
    from collections import Counter

    import torch
    from kornia.feature import scale_laf
    from torch.utils._python_dispatch import TorchDispatchMode

    from engine.match.describe import DEFAULT
    from engine.match.torch_sift import GPU_CHUNK, _kornia_sift
    from engine.match.torch_sift_batch import describe, detect

    class Count(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops: Counter[str] = Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            name = str(func)
            if name.startswith("aten._to_copy") and str(kwargs.get("device")) == "cpu":
                name = "aten._to_copy to the host"  # a copy back from the GPU: a wait
            self.ops[name] += 1
            return func(*args, **kwargs)

    def counted(fn):
        with Count() as count:
            out = fn()
        waits = sum(n for op, n in count.ops.items() if op.startswith(_WAITS))
        kernels = sum(n for op, n in count.ops.items() if not op.startswith(_VIEWS))
        return out, {"operations": kernels, "host_waits": waits}

    part = grays[:batch]
    sift = _kornia_sift(DEFAULT.max_features, torch.device(device))
    x = torch.from_numpy(np.stack(part)).to(device).unsqueeze(1).float().div_(255.0)
    out: dict = {"images": len(part)}
    with torch.inference_mode():
        found, out_det = counted(lambda: detect(sift, x))
        _, lafs, pyramid, octaves, levels = found
        lafs = scale_laf(lafs, sift.scaling_coef)
        # with the GPU's chunk wherever it is counted: the launches a GPU would make
        _, out_desc = counted(lambda: describe(sift, pyramid, lafs, octaves, levels, GPU_CHUNK))
        out["whole_batch"] = {"detection": out_det, "description": out_desc}
        det = sift.detector
        found, loop_det = counted(lambda: det._detect_with_pyramid(x, det.num_features))
        _, lafs, _, pyramid, octaves, levels = found
        lafs = scale_laf(lafs, sift.scaling_coef)
        _, loop_desc = counted(lambda: sift.descriptor(pyramid, lafs, octaves, levels))
        out["kornia_loop"] = {"detection": loop_det, "description": loop_desc}
    return out


def bench_gpu_local(
    photos: str | os.PathLike,
    count: int = 1024,
    sizes: tuple[tuple[int, int] | None, ...] = ((1024, 768), None),
    bare: int = 128,
    log: Callable[[str], None] | None = print,
    with_cpu: bool = True,
) -> list[dict]:
    """Rows of photos/s per folder kind; the GPU where there is one (``torch-cpu`` otherwise:
    the code path, not its speed)."""
    import torch

    from engine.bench.index_speed import bare_rate
    from engine.cores import available_cores
    from engine.photo.formats import is_photo_name

    src = sorted(
        p for p in Path(photos).iterdir() if p.is_file() and is_photo_name(os.fsencode(p.name))
    )
    if not src:
        raise ValueError(f"{photos}: no photos")
    gpu = "cuda" if torch.cuda.is_available() else "torch-cpu"
    rows = []
    t0 = time.perf_counter()

    def step(what: str) -> None:
        if log:
            log(f"  [{time.perf_counter() - t0:7.1f} s] {what}")

    for size in sizes:
        root = Path(tempfile.mkdtemp(prefix="vs-bench-gpu-local-"))
        try:
            folder = _folder(src, root, count, size)
            step(f"{count} photos written")
            grays = _grays(folder, min(bare, count))
            step(f"{len(grays)} decoded for the bare run")
            row: dict = {
                "photos": count,
                "photo": f"{size[0]}x{size[1]}" if size else "their own sizes",
                "features_on": gpu,
                "decoders": available_cores(),
            }
            bare_rows = _bare_rates(grays, "cuda" if gpu == "cuda" else "cpu", 2, step)
            row["bare_sift_and_codes"] = bare_rows
            row["bare_gpu_sift_and_codes_photos_per_s"] = max(
                r["photos_per_s"] for r in bare_rows.values() if isinstance(r, dict)
            )
            step(f"bare {bare_rows}")
            row["operations_per_batch"] = _operations(grays, "cuda" if gpu == "cuda" else "cpu")
            step(f"operations per batch {row['operations_per_batch']}")
            row["bare_cpu_decode_and_sift_photos_per_s"] = round(
                bare_rate(sorted(folder.iterdir())[: min(count, 256)], available_cores()), 2
            )
            step(f"bare CPU decode + SIFT: {row['bare_cpu_decode_and_sift_photos_per_s']}/s")
            row["index_gpu_photos_per_s"] = round(
                _index_rate(folder, root / "lib-gpu", gpu, row), 2
            )
            step(f"index with SIFT on {gpu}: {row['index_gpu_photos_per_s']} photos/s")
            if with_cpu:
                row["index_cpu_photos_per_s"] = round(
                    _index_rate(folder, root / "lib-cpu", "cpu"), 2
                )
                step(f"index with SIFT on the CPU: {row['index_cpu_photos_per_s']} photos/s")
            if gpu == "cuda":
                row["cuda_vs_cpu"] = _agreement(grays[:8], "cuda")
        finally:
            shutil.rmtree(root, ignore_errors=True)
        rows.append(row)
        if log:
            log(
                f"{row['photo']:>15}: index {row['index_gpu_photos_per_s']} photos/s with SIFT "
                f"on {gpu}, {row.get('index_cpu_photos_per_s')} on the CPU; bare "
                f"{row['bare_gpu_sift_and_codes_photos_per_s']}/s"
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.bench.gpu_local PHOTOS [--size WxH] [--batch N]``: the operations
    and host waits of one batch, all at once and with kornia's loop, as JSON (any device)."""
    import argparse
    import json

    import torch

    p = argparse.ArgumentParser(prog="python -m engine.bench.gpu_local")
    p.add_argument("photos")
    p.add_argument("--size", default="640x480", help="the photos are fitted to WxH first")
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    src = sorted(Path(args.photos).glob("*.jpg"))
    if not src:
        raise SystemExit(f"{args.photos}: no .jpg photos")
    root = Path(tempfile.mkdtemp(prefix="vs-bench-ops-"))
    try:
        folder = _folder(src, root, args.batch, (w, h))
        grays = _grays(folder, args.batch)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        out = {"device": device, "photo": args.size, **_operations(grays, device, args.batch)}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
