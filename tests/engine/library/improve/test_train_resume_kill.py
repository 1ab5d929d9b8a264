"""``train library`` killed (SIGKILL) as its first epoch starts — pairs mined and the "before"
figure saved, no training state yet (the first is saved at the end of the epoch or after
``--checkpoint-minutes``, 10 by default): ``--resume`` keeps the pairs it mined (never mines
again), says in one line that training starts over, and trains to the end instead of
refusing with "nothing to resume"."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from tests.helpers import ROOT


def test_resume_after_a_kill_in_the_first_epoch_keeps_the_mined_pairs(planted, tmp_path):
    shutil.copytree(planted / "lib", tmp_path / "lib")
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "train",
        "library",
        "--library",
        str(tmp_path / "lib"),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch-size",
        "12",
        "--image-size",
        "128",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--hold-out",
        "0.5",
        "--json",
    ]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        # improve.json is written once mining and the "before" figure are done, just before
        # the first epoch starts
        while not (out / "improve.json").exists() and p.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert p.poll() is None, "train library ended before it could be killed"
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    assert not (out / "state.json").exists()  # killed before any training state was saved
    mined = out / "mined.json"
    mined_text, mined_time = mined.read_text(), mined.stat().st_mtime_ns
    done = subprocess.run([*cmd, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    notes = [ln for ln in done.stderr.splitlines() if "no training state was saved" in ln]
    assert len(notes) == 1 and "training starts again on the pairs already mined" in notes[0]
    assert (mined.read_text(), mined.stat().st_mtime_ns) == (mined_text, mined_time)
    figures = json.loads(done.stdout)
    assert figures["epochs"] == 1 and "after" in figures and "before" in figures
    assert figures["notes"] == [notes[0].removeprefix("visual-search: ")]
    assert json.loads((out / "state.json").read_text())["epoch"] == 1
