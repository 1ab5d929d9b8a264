"""``codebook learn`` killed while it samples: its worker processes end with it (a SIGKILL
leaves the pool no time to stop them), and a finished run leaves no resource_tracker warning."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers import ROOT


def _photos(folder: Path, n: int, size=(1024, 768)) -> Path:
    """``n`` noise photos: SIFT finds thousands of points in each, so sampling takes seconds."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).resize(size, Image.NEAREST).save(folder / f"p{i:03}.jpg")
    return folder


def _parents() -> dict[int, int]:
    """pid → parent pid of every process (from /proc; psutil is not a dependency)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            out[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _descendants(pid: int) -> set[int]:
    parents, found, todo = _parents(), set(), [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parents.items() if pp == p} - found
        found |= kids
        todo += kids
    return found


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _cli(*args: str, extra_env: dict | None = None, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VISUAL_SEARCH_FAISS_GPU": "0"}
    env.update(extra_env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=env, text=True, **kw
    )


def _kill_once_working(proc: subprocess.Popen, done: Path) -> tuple[set[int], set[int], str]:
    """SIGKILL ``proc`` a second after its pool started: ``(workers, survivors, stderr)``, the
    survivors being the processes it started that still ran 5 s later (then killed here)."""
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        workers = _descendants(proc.pid)
        if len(workers) >= 2:  # the pool's processes (and spawn's resource tracker)
            break
        time.sleep(0.05)
    assert len(workers) >= 2 and proc.poll() is None, "the pool never started"
    time.sleep(1.0)  # now reading photos
    workers |= _descendants(proc.pid)
    assert proc.poll() is None and not done.exists(), "the work ended before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    survivors = {p for p in workers if _alive(p)}
    for p in survivors:  # leave nothing behind for the next test
        os.kill(p, signal.SIGKILL)
    return workers, survivors, proc.communicate(timeout=10)[1]


def test_sigkill_while_sampling_leaves_no_worker_behind(tmp_path):
    photos = _photos(tmp_path / "photos", 40)
    out = tmp_path / "book.safetensors"
    proc = _cli(
        "codebook", "learn", str(photos), "--out", str(out), "--words", "64",
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        workers, survivors, err = _kill_once_working(proc, out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert not survivors, f"{len(survivors)} of {len(workers)} worker processes outlived it"
    assert not out.exists()
    # the pool's semaphores are removed by multiprocessing's tracker, without a warning
    assert "resource_tracker" not in err and "leaked" not in err, err


def test_sigkill_during_index_prints_no_resource_tracker_warning(tmp_path):
    photos = _photos(tmp_path / "photos", 40)
    library = tmp_path / "library"
    env = {"VISUAL_SEARCH_HOME": str(tmp_path / "home")}
    proc = _cli(
        "index", str(photos), "--library", str(library), "--model", "gem:resnet18",
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, extra_env=env,
    )  # fmt: skip
    try:
        _, survivors, err = _kill_once_working(proc, tmp_path / "never")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert not survivors
    assert "resource_tracker" not in err and "leaked" not in err, err


def test_a_finished_learn_leaves_no_resource_tracker_warning(tmp_path):
    photos = _photos(tmp_path / "photos", 4, size=(320, 240))
    out = tmp_path / "book.safetensors"
    proc = _cli(
        "codebook", "learn", str(photos), "--out", str(out), "--words", "8", "--iterations", "2",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.exists()
    assert "resource_tracker" not in err and "leaked" not in err, err
