"""What tests share that is not a fixture: the repository root, the seeded test model, and
builders for awkward files the loader must survive."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

#: the repository's root folder
ROOT = Path(__file__).resolve().parents[1]
#: a seeded untrained network: the same fingerprint in every process
MODEL = "gem:resnet18"


def run_python(
    code: str, *args: str, timeout: float = 600
) -> tuple[dict, subprocess.CompletedProcess]:
    """Run ``python -c code args...`` in a fresh interpreter from the repository root; it must
    exit 0 and print a JSON object as its last line, returned with the finished process."""
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc


# PIL transpose that exif_transpose applies for each orientation, and its inverse
UPRIGHT_OP = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
STORE_OP = {**UPRIGHT_OP, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def save_with_orientation(upright: Image.Image, orientation: int, path: Path) -> None:
    """Store ``upright`` the way a camera would with EXIF ``orientation``."""
    stored = upright if orientation == 1 else upright.transpose(STORE_OP[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, quality=95, exif=exif.tobytes())


def png_bomb(path: Path, width: int = 40_000, height: int = 40_000) -> None:
    """A tiny PNG whose header claims ``width x height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def smooth_photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A large, cheap-to-encode photo: upsampled random colours."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), "RGB")
    return small.resize((width, height), Image.Resampling.BILINEAR)


def truncated_jpeg(path: Path, source: Path) -> None:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def kill_mid_epoch(p: subprocess.Popen, state: Path, timeout: float = 300) -> dict:
    """SIGKILL a training process once its saved state is past the first epoch and mid-way
    into the next (``--checkpoint-minutes 0`` saves after every step); the state it left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.poll() is None:
        try:
            s = json.loads(state.read_text()) if state.exists() else {}
        except json.JSONDecodeError:  # caught mid-write by the atomic replace: read again
            s = {}
        if s.get("epoch", 0) >= 1 and s.get("step", 0) >= 2:
            break
        time.sleep(0.02)
    assert p.poll() is None, "training finished before it could be killed"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    return json.loads(state.read_text())


def indexed_and_searched(window, qtbot, photos, query):
    """Index ``photos`` in ``window``, search ``query`` and wait until its photo is shown."""
    panel = window.search_panel
    with qtbot.waitSignal(window.library_panel.indexing_finished, timeout=120_000):
        window.library_panel.index_folders([str(photos)])
    with qtbot.waitSignal(panel.search_finished, timeout=60_000):
        panel.search(str(query))
    qtbot.waitUntil(lambda: panel.shown_path == str(query), timeout=20_000)


def damage_all_but_folders(db: Path) -> bytes:
    """Overwrite every page of the database but the first and those of the folders and
    models tables (one row each: their root page)."""
    con = sqlite3.connect(db)
    page = con.execute("PRAGMA page_size").fetchone()[0]
    keep = {1}
    keep |= {r[0] for r in con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'folders'")}
    keep |= {r[0] for r in con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'models'")}
    con.close()
    data = bytearray(db.read_bytes())
    for p in range(2, len(data) // page + 1):
        if p not in keep:
            data[(p - 1) * page : p * page] = b"\xa5" * page
    db.write_bytes(bytes(data))
    return bytes(data)


#: ``python -c`` code running the command line (``sys.argv[1:]``) that kills itself with SIGKILL
#: right after indexing's first commit (of ``index``, or of ``repair``'s re-indexing)
KILL_AFTER_FIRST_COMMIT = """
import os, signal, sys
from engine.cli import main
from engine.library.index.indexer import Indexer
commit = Indexer._commit
def commit_then_die(self, batch, summary):
    commit(self, batch, summary)
    os.kill(os.getpid(), signal.SIGKILL)
Indexer._commit = commit_then_die
main(sys.argv[1:])
"""


def run_killed(code: str, *args: str) -> None:
    """Run ``python -c code args`` until it kills itself with SIGKILL; then end the worker
    processes it started (its process group), which a killed parent cannot stop."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.wait(timeout=600) == -signal.SIGKILL
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
