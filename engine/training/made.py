"""The models training has made: checkpoint folders in the models folder (no PyTorch needed).

A run's folder (``OUT``) holds its model in ``OUT/model``; a model imported or copied there may
be the folder itself. What Settings lists besides the registered architectures.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.network.files import CONFIG_NAME, WEIGHTS_NAME
from engine.paths import models_dir


def is_checkpoint(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a checkpoint's weights and config."""
    f = Path(folder)
    return (f / CONFIG_NAME).is_file() and (f / WEIGHTS_NAME).is_file()


def trained_models(root: str | os.PathLike | None = None) -> list[str]:
    """Checkpoint folders under ``root`` (the models folder by default): each run's
    ``model`` folder, or a folder that is a checkpoint itself; newest first."""
    base = Path(root) if root is not None else models_dir()
    try:
        entries = list(os.scandir(base))
    except OSError:
        return []
    found: list[tuple[float, str]] = []
    for e in entries:
        if not e.is_dir():
            continue
        for cand in (Path(e.path) / "model", Path(e.path)):
            if is_checkpoint(cand):
                found.append(((cand / WEIGHTS_NAME).stat().st_mtime, str(cand)))
                break
    return [path for _, path in sorted(found, key=lambda t: (-t[0], t[1]))]
