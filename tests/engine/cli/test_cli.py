"""The ``visual-search`` command: JSON output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from engine.cli import COMMANDS, build_parser, main
from engine.cli.entry import EXIT_BAD_INPUT
from engine.network.checkpoint import save_checkpoint
from engine.network.models import list_models
from tests.helpers import ROOT, png_bomb, truncated_jpeg


def test_models_json_lists_every_architecture_and_backbone(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["name"], r["backbone"]) for r in rows} == {
        (a, b) for a in list_models() for b in ("resnet18", "resnet34", "resnet50", "resnet101")
    }
    for r in rows:
        assert r["params"] > r["backbone_params"] > 0
        assert r["descriptor_dim"] > 0
    cider = next(r for r in rows if r["name"] == "cider" and r["backbone"] == "resnet101")
    assert abs(cider["params_without_whitening"] / 1e6 - 46.12) < 0.5


def test_models_table(capsys):
    assert main(["models", "--backbone", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert "cider" in out and "ugalr" in out and "resnet50" not in out


def test_embed_json(capsys, scene_jpeg):
    path, box = scene_jpeg
    assert (
        main(
            [
                "embed",
                str(path),
                "--model",
                "cider:resnet18",
                "--json",
                "--image-size",
                "160",
                "--pretrained",
                "none",
            ]
        )
        == 0
    )
    obj = json.loads(capsys.readouterr().out)
    d = np.array(obj["descriptor"])
    assert obj["dim"] == 512 == d.shape[0]
    assert abs(np.linalg.norm(d) - 1) < 1e-4
    att = np.array(obj["attention"]["values"])
    assert att.shape == (obj["attention"]["height"], obj["attention"]["width"]) == (4, 5)
    assert att.min() >= 0 and att.max() <= 1
    assert obj["input_size"] == [160, 120] and obj["original_size"] == [320, 240]

    assert (
        main(
            [
                "embed",
                str(path),
                "--model",
                "cider:resnet18",
                "--json",
                "--pretrained",
                "none",
                "--bbox",
                ",".join(str(v) for v in box),
            ]
        )
        == 0
    )
    boxed = json.loads(capsys.readouterr().out)
    assert boxed["box"] == [float(v) for v in box]
    assert not np.allclose(boxed["descriptor"], obj["descriptor"])


def test_embed_from_a_checkpoint_dir(capsys, tmp_path, tiny_models, scene_jpeg):
    d = save_checkpoint(tiny_models["gem"], tmp_path / "ck")
    assert main(["embed", str(scene_jpeg[0]), "--model", str(d), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["model"]["architecture"] == "gem" and obj["input_size"] == [128, 96]


def test_errors_are_one_line_on_stderr(capsys, tmp_path, scene_jpeg):
    assert main(["embed", str(scene_jpeg[0]), "--model", str(tmp_path / "nope")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("visual-search: error:") and err.count("\n") == 1
    (tmp_path / "broken").mkdir()
    assert (
        main(["embed", str(scene_jpeg[0]), "--model", str(tmp_path / "broken")]) == EXIT_BAD_INPUT
    )
    assert "config.json: missing" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["embed", str(scene_jpeg[0]), "--bbox", "1,2,3"])
    assert e.value.code == 2


def _bad_photos(tmp_path, scene_jpeg):
    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("just text\n")
    truncated_jpeg(tmp_path / "trunc.jpg", scene_jpeg[0])
    png_bomb(tmp_path / "bomb.png")
    return {
        "zero.jpg": "empty file",
        "text.jpg": "not a recognised image format",
        "trunc.jpg": "truncated",
        "bomb.png": "too large",
    }


def test_bad_photos_exit_nonzero_with_a_reason_never_a_traceback(tmp_path, scene_jpeg):
    """Real processes, real exit codes."""
    env = {k: v for k, v in os.environ.items() if k != "VISUAL_SEARCH_DEBUG"}
    for name, reason in _bad_photos(tmp_path, scene_jpeg).items():
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "engine",
                "embed",
                str(tmp_path / name),
                "--json",
                "--model",
                "gem:resnet18",
                "--pretrained",
                "none",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == EXIT_BAD_INPUT, (name, proc.stderr)
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and reason in lines[0], (name, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_console_script_runs_the_default_model(tmp_path):
    """The README's first command: the installed entry point on a bundled sample photo."""
    from resources import sample_photos

    samples = sample_photos()
    assert len(samples) >= 2
    exe = os.path.join(os.path.dirname(sys.executable), "visual-search")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "engine"]
    proc = subprocess.run(
        [*cmd, "embed", str(samples[0]), "--json"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["dim"] == len(obj["descriptor"]) > 0


def test_every_command_has_help_and_the_parser_needs_no_torch(capsys):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert len(sub.choices) == len(COMMANDS)
    for name in sub.choices:
        with pytest.raises(SystemExit) as e:
            main([name, "--help"])
        assert e.value.code == 0
        assert f"usage: visual-search {name}" in capsys.readouterr().out
    code = (
        "import sys; from engine.cli import build_parser; build_parser().format_help(); "
        "print('torch' in sys.modules)"
    )
    root = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=root
    )
    assert out.stdout.strip() == "False", out.stderr


def test_train_methods_are_the_registry(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["train", "synthetic", "--out", str(tmp_path), "--method", "nope"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err
    assert all(repr(name) in err for name in list_models())


def test_bench_duplicates_can_keep_its_library():
    args = build_parser().parse_args(
        ["bench", "duplicates", "--manifest", "m.json", "--keep-library", "lib"]
    )
    assert (args.manifest, args.keep_library) == ("m.json", "lib")
    assert build_parser().parse_args(["bench", "duplicates"]).keep_library is None
