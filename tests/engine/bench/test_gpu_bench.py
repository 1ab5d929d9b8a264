"""``scripts/gpu-bench.sh --small``: the prepared GPU benchmark runs end to end (on this CPU,
at toy sizes) and prints every section as JSON."""

from __future__ import annotations

import json
import subprocess

from tests.helpers import ROOT


def test_gpu_bench_small_prints_every_section(tmp_path):
    out = tmp_path / "bench.json"
    p = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu-bench.sh"), "--small", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    printed = json.loads(p.stdout)
    assert printed == json.loads(out.read_text())
    for name in ("environment", "extract", "index", "local", "unchanged", "train", "faiss"):
        section = printed[name]
        assert not (isinstance(section, dict) and "error" in section), (name, section)
    env = printed["environment"]
    assert env["cores"] >= 1 and env["faiss"]["faiss_version"]
    assert all(r["extract_images_per_s"] > 0 for r in printed["extract"])
    assert set(printed["extract"][0]["batch_forward_images_per_s"]) == {"1", "2"}
    (index,) = printed["index"]
    assert index["photos"] == 6 and index["index_photos_per_s"] > 0
    (local,) = printed["local"]  # SIFT through kornia (on this CPU) and through OpenCV
    assert local["photos"] == 6 and local["features_on"] == "torch-cpu"
    assert local["index_gpu_photos_per_s"] > 0 and local["index_cpu_photos_per_s"] > 0
    assert local["bare_gpu_sift_and_codes_photos_per_s"] > 0
    # the host's part of the device work: the describing thread's CPU time against the wall
    assert 0 < local["device_thread_cpu_share"] <= local["device_thread_busy_share"] + 0.05
    shares = [r["host_thread_cpu_share"] for r in local["bare_sift_and_codes"].values()
              if isinstance(r, dict)]  # fmt: skip
    assert shares and all(0 < x <= 1.05 for x in shares)
    ops = local["operations_per_batch"]  # the whole batch at once launches fewer, waits less
    ours, theirs = ops["whole_batch"]["description"], ops["kornia_loop"]["description"]
    assert ours["operations"] < theirs["operations"] and ours["host_waits"] < theirs["host_waits"]
    assert ops["whole_batch"]["detection"]["operations"] > 0
    assert printed["unchanged"]["torch_imported"] is False
    assert {r["views_on"] for r in printed["train"]} == {"cpu", "device"}
    assert {r["task"] for r in printed["faiss"]} >= {"kmeans", "search"}


def test_quick_leaves_the_cpu_index_out_of_the_local_section():
    from engine.bench.gpu_suite import run

    out = run(small=True, only=["local"], log=None, quick=True)
    (local,) = out["local"]
    assert "index_cpu_photos_per_s" not in local and local["index_gpu_photos_per_s"] > 0
