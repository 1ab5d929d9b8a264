"""Lazy re-exports for package ``__init__`` files (napari's ``lazy_loader.attach`` pattern).

A package lists which submodule defines each public name; the submodule is imported on first
access, so importing the package (or a light submodule of it) loads nothing heavy::

    __getattr__, __dir__ = attach(__name__, {"Library": ".library"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def attach(
    package: str, sources: dict[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``: ``sources`` maps each
    public name to the module (relative to ``package``) that defines it."""

    def __getattr__(name: str) -> object:
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(sources[name], package), name)

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(sources))

    return __getattr__, __dir__
