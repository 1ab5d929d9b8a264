"""The light install: everything but training runs where PyTorch and FAISS cannot be
imported — the command line in a subprocess where ``import torch`` and ``import faiss`` fail
indexes, searches, finds duplicates, draws a heatmap, outlines a clicked object, evaluates,
exports a model and says in one line what training needs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from engine.cli.entry import EXIT_BAD_INPUT
from tests.helpers import ROOT, run_python

NO_TORCH = """
import json, sys
for name in ("torch", "torchvision", "triton", "faiss"):
    sys.modules[name] = None  # importing it now fails, as on an install without it
from engine.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    out.append(main(argv))
heat = None
if len(sys.argv) > 2:
    from engine.library import Library
    with Library(sys.argv[2]) as lib:
        heat = list(lib.attention_overlay(sys.argv[3], max_side=64).shape)
print(json.dumps({"rc": out, "heat": heat, "heavy": any(
    m in sys.modules and sys.modules[m] is not None for m in ("torch", "torchvision", "faiss"))}))
"""


def _run(commands, *extra):
    return run_python(NO_TORCH, json.dumps(commands), *extra)


def test_index_search_duplicates_and_a_heatmap_run_without_torch(tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(ROOT / "resources" / "samples", photos)
    shutil.copy(photos / "obj03_1.jpg", photos / "copy.jpg")
    lib = str(tmp_path / "lib")
    query = str(photos / "obj00_0.jpg")
    out, proc = _run(
        [
            ["index", str(photos), "--library", lib, "--vectors"],
            ["search", query, "--library", lib, "--json"],
        ]
    )
    assert out["rc"] == [0, 0] and not out["heavy"]
    found = json.loads(proc.stdout.strip().rsplit("\n", 1)[0].split("\n", 1)[1])
    best = found["results"][0]
    assert best["path"].endswith("obj00_1.jpg") and best["verified"] and best["global_score"]
    out, proc = _run(
        [
            ["search", query, "--library", lib, "--pipeline", "global"],
            ["duplicates", "--library", lib],
            ["status", "--library", lib],
        ],
        lib,
        query,
    )
    assert out["rc"] == [0, 0, 0] and not out["heavy"]
    assert out["heat"] == [48, 64, 4]
    assert "copy.jpg" in proc.stdout and "obj03_1.jpg" in proc.stdout
    assert "runs through ONNX Runtime" in proc.stdout


def test_training_says_what_to_install_in_one_line(tmp_path):
    out, proc = _run([["train", "synthetic", "--out", str(tmp_path / "m"), "--epochs", "1"]])
    assert out["rc"] == [EXIT_BAD_INPUT] and not out["heavy"]
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "pip install 'visual-search[train]'" in err[0], proc.stderr


def test_localize_evaluate_and_export_run_without_torch(tmp_path):
    classes = tmp_path / "classes"
    for p in sorted((ROOT / "resources" / "samples").glob("obj0[0-3]_*.jpg")):
        (classes / p.stem[:5]).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, classes / p.stem[:5] / p.name)
    query = str(classes / "obj00" / "obj00_0.jpg")
    same, other = str(classes / "obj00" / "obj00_1.jpg"), str(classes / "obj01" / "obj01_0.jpg")
    copy = tmp_path / "copy"
    out, proc = _run(
        [
            ["localize", query, "--point", "320,240", same, other, "--json"],
            ["evaluate", "--classes", str(classes), "--model", "default", "--json"],
            ["export", str(ROOT / "resources" / "models" / "default"), str(copy)],
            ["evaluate", "--classes", str(classes), "--model", str(copy), "--json"],
        ]
    )
    assert out["rc"] == [0, 0, 0, 0] and not out["heavy"]
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    located = {Path(r["path"]).name: r for r in lines[0]["results"]}
    assert located["obj00_1.jpg"]["found"] and len(located["obj00_1.jpg"]["polygon"]) >= 4
    assert not located["obj01_0.jpg"]["found"] and located["obj01_0.jpg"]["reason"]
    assert lines[1]["classes"] == 4 and lines[1]["mAP"] > 50
    assert lines[2]["mAP"] == lines[1]["mAP"]  # the copy runs the same weights through ONNX
    assert (copy / "model.onnx").is_file()
