"""The library package re-exports lazily: light submodules stay light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import ROOT

HEAVY = ("faiss", "sqlalchemy", "torch", "torchvision", "safetensors", "numpy", "PIL", "cv2")


def _modules_after(statement: str) -> set[str]:
    """Top-level module names loaded by ``statement`` in a fresh interpreter."""
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {name.split(".")[0] for name in json.loads(out)}


@pytest.mark.parametrize("statement", ["import engine.library.index.scan", "import engine.library"])
def test_light_imports_load_no_heavy_module(statement):
    assert _modules_after(statement).isdisjoint(HEAVY)


def test_every_reexported_name_resolves():
    import engine.library as pkg

    for name in pkg.__all__:
        assert getattr(pkg, name).__name__ == name
    with pytest.raises(AttributeError):
        pkg.not_a_name  # noqa: B018
