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


@pytest.mark.parametrize(
    "statement",
    [
        "import engine.library.index.scan",
        "import engine.library",
        "import engine.library.store.fspath",
        "import engine.network, engine.photo, engine.training, engine.evaluation",
    ],
)
def test_light_imports_load_no_heavy_module(statement):
    assert _modules_after(statement).isdisjoint(HEAVY)


@pytest.mark.parametrize(
    "package", ["engine.library", "engine.library.store", "engine.photo", "engine.network"]
)
def test_every_reexported_name_resolves(package):
    import importlib
    import inspect

    pkg = importlib.import_module(package)
    for name in pkg.__all__:
        value = getattr(pkg, name)
        if inspect.isclass(value) or inspect.isfunction(value):  # not constants or aliases
            assert value.__name__ == name
        assert name in dir(pkg)
    with pytest.raises(AttributeError):
        pkg.not_a_name  # noqa: B018
