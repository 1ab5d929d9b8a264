"""Which store row a model spec names, known without loading the model.

A model's fingerprint hashes its weights, so finding it means importing torch and loading
the network: seconds, for an ``index`` that finds nothing new. A checkpoint folder (the
bundled ``default`` is one) is stamped by its files' names, sizes and modification times;
the first load records ``stamp → fingerprint`` in ``model-stamps.json`` beside the FAISS
cache, and later runs read the row from there. A stamp that changed (the checkpoint was
retrained or replaced) is not in the file, and the model is loaded as before. Architecture
names (``gem``, ``cider:resnet101``) have no files to stamp and are always loaded.

Torch-free by design: importing this module loads neither torch nor the model code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from engine.atomic import write_atomically
from engine.errors import VisualSearchError
from engine.inputs import load_json

STAMPS_NAME = "model-stamps.json"
#: entries kept (the most recent ones); a library rarely sees more than a few models
MAX_STAMPS = 64
#: MAX_STAMPS entries take a few kB; a larger file is not one this module wrote
MAX_STAMPS_BYTES = 1 << 20
DEFAULT_SPEC = "default"


def checkpoint_dir(spec: str) -> Path | None:
    """The checkpoint folder ``spec`` loads from, or None (an architecture name, or a
    ``default`` that falls back to an untrained network in a build without the bundled
    model)."""
    if spec == DEFAULT_SPEC:
        from resources import resource_path

        p = resource_path("models", "default")
        # the files checkpoint.bundled_model_dir requires
        ok = (p / "config.json").is_file() and (p / "model.safetensors").is_file()
        return p if ok else None
    p = Path(spec).expanduser()
    return p if p.is_dir() else None


def stamp(spec: str) -> str | None:
    """A short id of the files ``spec`` loads, or None when it has none to stamp."""
    d = checkpoint_dir(spec)
    if d is None:
        return None
    h = hashlib.blake2b(digest_size=16)
    h.update(os.fsencode(d.resolve()))
    try:
        for entry in sorted(os.scandir(d), key=lambda e: e.name):
            if entry.is_file():
                st = entry.stat()
                h.update(f"\0{entry.name}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    except OSError:
        return None
    return h.hexdigest()


class ModelStamps:
    """``stamp → fingerprint`` for the models a library loaded, kept in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / STAMPS_NAME

    def _read(self) -> dict[str, str]:
        try:  # bounded in size and nesting; a FIFO or device is refused, not read
            data = load_json(self.path, MAX_STAMPS_BYTES)
        except VisualSearchError:
            return {}  # missing, damaged or hostile: a cache, rebuilt by the next load
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def fingerprint(self, spec: str) -> str | None:
        """The fingerprint recorded for ``spec``'s files as they are now, if any."""
        s = stamp(spec)
        return None if s is None else self._read().get(s)

    def record(self, spec: str, fingerprint: str) -> None:
        """Remember ``spec``'s fingerprint (a failed write only costs a load next time)."""
        s = stamp(spec)
        if s is None:
            return
        data = self._read()
        if data.get(s) == fingerprint:
            return
        data.pop(s, None)
        data[s] = fingerprint
        kept = dict(list(data.items())[-MAX_STAMPS:])
        text = json.dumps(kept, indent=1, sort_keys=False)
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, lambda p: Path(p).write_text(text, encoding="utf-8"))
