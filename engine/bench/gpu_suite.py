"""Every throughput figure of a GPU machine in one run, printed as one JSON object
(``scripts/gpu-bench.sh``; ``python -m engine.bench.gpu_suite [--small] [--out FILE]``).

Sections: ``environment`` (torch, CUDA, the card, the cores, FAISS beside torch),
``extract`` (forward images/s per model at 512 and 1,024 px by batch size),
``index`` (folders of mixed-aspect 1024×768 and 4000×3000 JPEGs, global only and with local
features), ``local`` (SIFT on the GPU against the CPU path, end to end on real photos:
``--photos DIR``, by default the bundled samples; ``engine.bench.gpu_local``),
``unchanged`` (``index`` of an indexed folder, in a fresh process), ``train``
(generated-data training images/s per method at 224 px, views made on the CPU and on the
device, with the GPU's busy share) and ``faiss`` (k-means and exact search at 1M vectors on
the GPU and the CPU). Nothing is downloaded: the photos are generated (except ``local``'s),
the networks are untrained. A section that fails is recorded with its error and the run goes on.

``--small`` runs every section at toy sizes, on a CPU in about a minute (the test suite
runs it so); ``--quick`` cuts ``local`` to one folder of 256 photos with no CPU index beside it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path


def _environment() -> dict:
    import torch

    from engine.cores import available_cores
    from engine.faiss_device import describe

    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "gpu_memory_gb": (
            round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if cuda else None
        ),
        "cores": available_cores(),
        "faiss": describe(),
    }


def sections(
    small: bool, photos: str | None = None, quick: bool = False
) -> dict[str, Callable[[], object]]:
    """Section name → the call that measures it (sized for ``small`` or a full run)."""
    from engine.bench import (
        bench_extract,
        bench_faiss_gpu,
        bench_generated,
        bench_gpu_local,
        bench_index,
        bench_unchanged,
    )

    def extract():
        if small:
            return bench_extract(
                models=["gem"], backbone="resnet18", sizes=[64], repeats=1, batch_sizes=(1, 2),
                log=None,
            )  # fmt: skip
        return bench_extract(
            backbone="resnet50", sizes=[512, 1024], repeats=3, batch_sizes=(1, 16, 64), log=None
        )

    def index():
        if small:
            return bench_index(count=6, sizes=((96, 72),), model="gem:resnet18", mixed=True,
                               log=None)  # fmt: skip
        return [
            *bench_index(count=1024, sizes=((1024, 768),), mixed=True, log=None),
            *bench_index(count=128, sizes=((4000, 3000),), mixed=True, log=None),
        ]

    def local():
        folder = photos or str(Path(__file__).resolve().parents[2] / "resources" / "samples")
        if small:
            return bench_gpu_local(
                folder, count=6, sizes=((320, 240),), bare=4, log=None, with_cpu=not quick
            )
        # its steps go to stderr as they finish: a run cut short still tells where it was
        if quick:  # what a few minutes of a GPU allow: one folder, no CPU index beside it
            return bench_gpu_local(
                folder, count=256, sizes=((1024, 768),), with_cpu=False,
                log=lambda m: print(m, file=sys.stderr),
            )  # fmt: skip
        return bench_gpu_local(folder, count=512, log=lambda m: print(m, file=sys.stderr))

    def unchanged():
        return bench_unchanged(count=20 if small else 300, repeats=1 if small else 3, log=None)

    def train():
        if small:
            return bench_generated(small=True, log=None)
        return bench_generated(
            methods=("gem", "cider", "ugalr"), size=224, backbone="resnet50", identities=64,
            views=4, steps=40, log=None,
        )  # fmt: skip

    def faiss():
        return bench_faiss_gpu(small=small, with_torch=True, log=None)

    return {
        "extract": extract,
        "index": index,
        "local": local,
        "unchanged": unchanged,
        "train": train,
        "faiss": faiss,
    }


def run(
    small: bool = False,
    only: list[str] | None = None,
    log=print,
    photos: str | None = None,
    quick: bool = False,
) -> dict:
    out: dict = {"small": small}
    t0 = time.perf_counter()
    try:
        out["environment"] = _environment()
    except Exception as e:  # the rest may still run
        out["environment"] = {"error": f"{type(e).__name__}: {e}"}
    for name, fn in sections(small, photos, quick).items():
        if only and name not in only:
            continue
        t = time.perf_counter()
        try:
            out[name] = fn()
        except Exception as e:  # one broken section must not hide the others' figures
            out[name] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
        if log:
            log(f"{name}: {time.perf_counter() - t:.1f} s")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gpu-bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--small", action="store_true", help="toy sizes: about a minute on a CPU")
    p.add_argument("--only", nargs="+", help="these sections only")
    p.add_argument("--out", default=None, help="also write the JSON to this file")
    p.add_argument("--photos", default=None, help="real photos for the local section")
    p.add_argument(
        "--quick",
        action="store_true",
        help="local: 256 photos at 1024x768 and no CPU index beside them (a few minutes)",
    )
    args = p.parse_args(argv)
    result = run(args.small, args.only, _to_stderr, args.photos, args.quick)
    text = json.dumps(result, indent=1, default=str)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(text)
    errors = [k for k, v in result.items() if isinstance(v, dict) and "error" in v]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
