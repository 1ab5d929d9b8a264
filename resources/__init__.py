"""Data files shipped with visual-search (sample photos, the default model, icons).

Found relative to this package, so the same code works from a source checkout, an installed
wheel and a frozen bundle.
"""

from __future__ import annotations

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent


def resource_path(*parts: str) -> Path:
    """Path of a shipped resource (it may not exist in every build)."""
    return _ROOT.joinpath(*parts)


def sample_photos() -> list[Path]:
    """The bundled sample photos, sorted by name."""
    from engine.photo.formats import is_photo_name  # the one list of photo extensions

    d = resource_path("samples")
    return sorted(p for p in d.glob("*") if is_photo_name(os.fsencode(p.name)))
