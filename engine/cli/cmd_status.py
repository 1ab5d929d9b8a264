"""``visual-search status``: folders, counts, models and index of the library."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from engine.cli.common import add_json, add_library, emit, open_library, shown


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("status", help="folders, counts, models and index of the library")
    add_library(p)
    add_json(p)
    return p


def _emptied(st: dict) -> list[str]:
    """A library with no folder beside a damaged database an earlier repair kept: the line
    that says how to get its folders back (and ``kept_damaged`` in the JSON, empty for a
    library with folders)."""
    from engine.library.repair import kept_databases

    st["kept_damaged"] = [str(p) for p in kept_databases(Path(st["library"]))]
    if not st["kept_damaged"]:
        return []
    folder = shlex.quote(st["library"])
    return [
        f"no folder, but a damaged database is kept beside it as "
        f"{shown(st['kept_damaged'][0])}: `visual-search repair --library {shown(folder)}` "
        "indexes again the folders it names"
    ]


def _sift_where() -> dict:
    """Where indexing's SIFT runs (``VISUAL_SEARCH_FEATURES_ON``), in words too."""
    from engine.cores import available_cores
    from engine.errors import ConfigError
    from engine.match.describers import features_device

    n = available_cores()
    try:
        on = features_device()
    except ConfigError as e:
        return {"on": None, "text": f"nothing: {e}"}
    text = {
        "cpu": f"the CPU (OpenCV, {n} worker processes)",
        "cuda": f"the GPU (kornia; decoding on {n} worker processes)",
        "torch-cpu": f"the CPU through PyTorch (kornia; decoding on {n} worker processes)",
    }[on]
    return {"on": on, "text": text}


def run(args: argparse.Namespace) -> int:
    with open_library(args) as lib:
        lib.store.db.check_integrity(full=True)  # every table, even of a large library
        st = lib.status()
    lines = [f"library: {shown(st['library'])}"]
    if st["read_only"]:
        lines[0] += f" (read-only: {shown(st['read_only'])}; it can be searched, not changed)"
    f = st["files"]
    lines.append(f"photos: {f['indexed']} indexed, {f['pending']} pending, {f['failed']} failed")
    for fo in st["folders"]:
        gone = "" if fo["exists"] else "  (folder missing)"
        lines.append(
            f"  {shown(fo['path'])}: {fo['indexed']} indexed, {fo['pending']} pending, "
            f"{fo['failed']} failed{gone}"
        )
    for m in st["models"]:
        kind = f"{m['index']}, " if m["index"] and m["index_state"] != "damaged" else ""
        lines.append(
            f"model {m['spec']} ({m['architecture']}/{m['backbone']}, {m['dim']} dims, "
            f"{m['fingerprint']}): {m['vectors']} vectors, index {kind}{m['index_note']}"
        )
    for c in st["codebooks"]:
        if not c["active"]:
            continue
        kind = "learned from this library" if c["learned_from_library"] else "shipped"
        lines.append(
            f"local features: codebook {c['fingerprint']} ({c['words']} words, {kind}): "
            f"{c['photos']} photos, {c['bytes_per_photo'] / 1e3:.1f} kB each, "
            f"inverted file {c['index_note']}"
        )
    st["kept_damaged"] = []
    if not st["folders"]:
        lines += _emptied(st)
    net = st["network"]
    lines.append(f"network: {shown(net['model'])} runs through {net['text']}")
    st["sift"] = _sift_where()
    lines.append(f"SIFT runs on: {st['sift']['text']}")
    b = st["bytes"]
    lines.append(
        f"size: database {b['database'] / 1e6:.1f} MB, index {b['index'] / 1e6:.1f} MB, "
        f"local index {b['local_index'] / 1e6:.1f} MB"
    )
    emit(args, st, "\n".join(lines))
    return 0
