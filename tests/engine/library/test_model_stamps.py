"""Nothing is loaded that is not needed: ``index`` of an unchanged folder, ``status``,
``errors``, ``forget``, ``duplicates`` and ``repair`` run without importing torch or loading
the network; a photo to index, or a checkpoint replaced on disk, loads it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import ROOT

PROBE = """
import json, sys
if __name__ == "__main__":
    import contextlib, io
    from engine.cli.entry import main
    out = []
    for args in json.loads(sys.argv[1]):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            rc = main(args)
        out.append({"rc": rc, "torch": "torch" in sys.modules, "out": buf.getvalue()})
    print(json.dumps(out))
"""


def _run(tmp_path: Path, *commands: list[str]) -> list[dict]:
    """Run CLI ``commands`` one after another in one fresh interpreter; for each, its exit
    code, JSON output and whether torch had been imported by then."""
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    p = subprocess.run(
        [sys.executable, str(probe), json.dumps(list(commands))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout.splitlines()[-1])
    for r in rows:
        r["json"] = json.loads(r["out"]) if r["out"].startswith(("{", "[")) else None
    return rows


@pytest.fixture
def checkpoint(tmp_path, tiny_models):
    from engine.network.checkpoint import save_checkpoint

    return save_checkpoint(tiny_models["gem"], tmp_path / "ckpt")


def _index(photos, lib, ckpt) -> list[str]:
    return [
        "index",
        str(photos),
        "--library",
        str(lib),
        "--model",
        str(ckpt),
        "--vectors",
        "--json",
    ]


def test_an_unchanged_library_is_checked_without_torch(tmp_path, photos, checkpoint):
    lib = tmp_path / "lib"
    first, again = _run(tmp_path, _index(photos, lib, checkpoint), _index(photos, lib, checkpoint))
    assert first["json"]["indexed"] == 12 and first["torch"]
    assert again["json"]["indexed"] == 0 and again["json"]["skipped_unchanged"] == 12

    read = ["--library", str(lib), "--json"]
    gone = photos / "home" / "obj0_2.jpg"
    rows = _run(
        tmp_path,
        _index(photos, lib, checkpoint),
        ["status", *read],
        ["errors", *read],
        ["duplicates", *read],
        ["repair", *read],
        ["forget", str(gone), *read],
        _index(photos, lib, checkpoint),  # a forgotten photo still on disk comes back
    )
    unchanged, status, errors, _dups, _repair, forget, back = rows
    assert unchanged["json"]["skipped_unchanged"] == 12 and unchanged["json"]["indexed"] == 0
    assert status["json"]["files"]["indexed"] == 12
    assert errors["json"] == []
    assert forget["json"]["files"] == 1
    assert [r["torch"] for r in rows[:-1]] == [False] * 6, [r["out"] for r in rows]
    # the forgotten photo needs its vector again: the network loads, and only then
    assert back["json"]["indexed"] == 1 and back["torch"]


def test_a_checkpoint_replaced_on_disk_is_loaded_and_reindexed(
    tmp_path, photos, checkpoint, tiny_models
):
    import copy

    from engine.network.checkpoint import save_checkpoint

    lib = tmp_path / "lib"
    (first,) = _run(tmp_path, _index(photos, lib, checkpoint))
    assert first["json"]["indexed"] == 12
    # other weights under the same folder name: the stamp no longer matches
    other = copy.deepcopy(tiny_models["gem"])
    with torch.no_grad():
        next(other.parameters()).mul_(1.5)
    shutil.rmtree(checkpoint)
    save_checkpoint(other, checkpoint)
    (again,) = _run(tmp_path, _index(photos, lib, checkpoint))
    assert again["torch"]
    assert again["json"]["indexed"] == 12  # every photo gets the new model's vector


def test_a_damaged_stamp_file_only_costs_a_hash_of_the_checkpoint(tmp_path, photos, checkpoint):
    """The checkpoint's row is found again from its files (config and weights hashed), without
    loading the network or importing torch, and the stamp is written afresh."""
    lib = tmp_path / "lib"
    _run(tmp_path, _index(photos, lib, checkpoint))
    stamps = lib / "index" / "model-stamps.json"
    assert stamps.is_file()
    stamps.write_text("{not json")
    (again,) = _run(tmp_path, _index(photos, lib, checkpoint))
    assert not again["torch"] and again["json"]["skipped_unchanged"] == 12
    assert json.loads(stamps.read_text())  # written afresh from the files
    (third,) = _run(tmp_path, _index(photos, lib, checkpoint))
    assert not third["torch"] and third["json"]["skipped_unchanged"] == 12
