"""Layering rules (checked by import-linter): the engine never imports Qt, and training never
loads the photo library (FAISS, SQLAlchemy) into its workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "importlinter.cli"]
    proc = subprocess.run(
        [*cmd, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "The engine never imports Qt KEPT" in proc.stdout
    assert "Training never loads the photo library KEPT" in proc.stdout


def test_engine_imports_without_qt():
    code = (
        "import sys, engine.cli, engine.network.extract, engine.network.checkpoint; "
        "print(any(m.startswith(('PySide6', 'shiboken6')) for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.stdout.strip() == "False", out.stderr


def test_modules_stay_small_and_the_window_only_wires_panels():
    """One place per concern: no module of engine/ or app/ over 400 lines, and the main
    window class under 250."""
    import ast

    long = {
        str(p.relative_to(ROOT)): n
        for pkg in ("engine", "app")
        for p in (ROOT / pkg).rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, long
    tree = ast.parse((ROOT / "app" / "gui.py").read_text(encoding="utf-8"))
    (window,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "MainWindow"]
    assert window.end_lineno - window.lineno + 1 < 250
