"""Where visual-search keeps its data.

Libraries and models live in the platform's user data dir (platformdirs), thumbnails in its
cache dir. ``VISUAL_SEARCH_HOME`` moves everything under one directory; ``--library DIR``
picks one library directly.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "visual-search"


def home() -> Path:
    env = os.environ.get("VISUAL_SEARCH_HOME")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    env = os.environ.get("VISUAL_SEARCH_HOME")
    if env:
        return Path(env).expanduser() / "cache"
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def default_library_dir() -> Path:
    return home() / "library"


def models_dir() -> Path:
    return home() / "models"
