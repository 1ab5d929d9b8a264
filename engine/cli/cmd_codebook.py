"""``visual-search codebook``: learn a visual-word codebook from photos, or show one."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from engine.cli.common import TerminalProgress, add_json, add_library, at_least, emit, open_library


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("codebook", help="learn a visual-word codebook (local features) or show one")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    learn = verbs.add_parser(
        "learn",
        help="k-means over RootSIFT features of photo folders (--out FILE), or of a library's "
        "photos, which it then uses (--library DIR)",
    )
    learn.add_argument("folders", nargs="*", help="photo folders (searched recursively)")
    learn.add_argument("--out", default=None, help="codebook file to write (.safetensors)")
    add_library(learn)
    learn.add_argument(
        "--words",
        type=at_least(2),
        default=None,
        help="visual words (default 16384 for folders; for a library, by its size)",
    )
    learn.add_argument(
        "--per-photo",
        type=at_least(1),
        default=200,
        help="features sampled per photo (default 200)",
    )
    learn.add_argument("--iterations", type=at_least(1), default=20, help="k-means iterations")
    learn.add_argument("--seed", type=int, default=0)
    learn.add_argument(
        "--kmeans-device",
        choices=("auto", "cpu", "gpu"),
        default="auto",
        help="where k-means runs (default auto: the GPU when faiss-gpu sees one)",
    )
    add_json(learn)
    info = verbs.add_parser("info", help="what a codebook file holds")
    info.add_argument("file", nargs="?", default=None, help="default: the shipped codebook")
    add_json(info)
    return p


def _photos(folders: list[str]) -> list[Path]:
    from engine.photo.formats import is_photo_name

    out: list[Path] = []
    for folder in folders:
        for root, _dirs, files in os.walk(folder):
            out += [Path(root) / f for f in files if is_photo_name(os.fsencode(f))]
    return sorted(out)


def _choose_kmeans_device(choice: str) -> None:
    """``cpu`` switches FAISS's GPU off for this process (the ``VISUAL_SEARCH_FAISS_GPU``
    switch, which the k-means deep inside ``learn_codebook`` honours); ``gpu`` insists on one."""
    from engine import faiss_device
    from engine.errors import VisualSearchError

    if choice == "cpu":
        os.environ[faiss_device.ENV] = "0"
    elif choice == "gpu" and faiss_device.gpu_count() == 0:
        raise VisualSearchError(
            "--kmeans-device gpu: FAISS sees no GPU here"
            + (f" ({faiss_device.ENV}=0)" if faiss_device.gpu_disabled_by_env() else "")
        )


def _kmeans_device() -> str:
    from engine.faiss_device import describe

    return "gpu" if describe()["gpu_used"] else "cpu"


def run(args: argparse.Namespace) -> int:
    from engine.errors import VisualSearchError
    from engine.match.codebook import Codebook, default_codebook_path
    from engine.match.learn import learn_codebook

    if args.verb == "info":
        book = Codebook.load(args.file or default_codebook_path())
        out = {"fingerprint": book.fingerprint, "words": book.size, **book.meta}
        emit(args, out, "\n".join(f"{k}: {v}" for k, v in out.items()))
        return 0
    _choose_kmeans_device(args.kmeans_device)
    if not args.folders:
        bar = TerminalProgress(not args.json)
        with open_library(args, "write") as lib:
            try:
                summary = lib.learn_codebook(args.words, progress=bar)
            finally:
                bar.close()
            book = lib.codebook()
        out = {
            "fingerprint": book.fingerprint,
            "words": book.size,
            "kmeans_device": _kmeans_device(),
            **summary.to_dict(),
        }
        state = "cancelled" if summary.cancelled else "in use"
        emit(
            args,
            out,
            f"codebook {book.fingerprint} ({book.size} words) {state}; "
            f"{summary.indexed} photos re-encoded; k-means on the {out['kmeans_device']}",
        )
        return 0
    if not args.out:
        raise VisualSearchError("learning from folders needs --out FILE")
    photos = _photos(args.folders)
    if not photos:
        raise VisualSearchError(f"no photos in {', '.join(args.folders)}")
    bar = TerminalProgress(not args.json)
    try:
        book = learn_codebook(
            photos, args.words or 16384, args.per_photo, args.seed, args.iterations, progress=bar
        )
    finally:
        bar.close()
    book.save(args.out)
    out = {
        "out": args.out,
        "fingerprint": book.fingerprint,
        "words": book.size,
        "photos": len(photos),
        "kmeans_device": _kmeans_device(),
    }
    emit(
        args,
        out,
        f"{args.out}: {book.size} words from {len(photos)} photos ({book.fingerprint}); "
        f"k-means on the {out['kmeans_device']}",
    )
    return 0
