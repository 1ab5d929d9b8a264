"""The networks a library describes photos with: one ``Extractor`` per model spec, loaded on
first use, with the store row its vectors are kept under.

Loading a network imports torch and hashes its weights; a checkpoint whose files were seen
before names its row without loading (``model_stamps``), so an ``index`` with nothing new
never loads one.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from engine.library.model_stamps import ModelStamps
from engine.library.store import ModelRow, Store

if TYPE_CHECKING:  # these load torch: imported where a model is needed, not before
    from engine.network.extraction import ExtractorBase as Extractor


class Networks:
    """Extractors per model spec on one device and precision (thread-safe)."""

    def __init__(
        self, store: Store, index_dir: Path, device: str = "auto", precision: str = "auto"
    ) -> None:
        self.store = store
        self.index_dir = index_dir
        self.device = device
        self.precision = precision
        self._loaded: dict[str, tuple[Extractor, ModelRow]] = {}
        self._lock = threading.RLock()

    def configure(self, device: str | None = None, precision: str | None = None) -> None:
        """Use another device or precision from now on; loaded networks are dropped."""
        with self._lock:
            if device is not None:
                self.device = device
            if precision is not None:
                self.precision = precision
            self._loaded.clear()

    def current_spec(self) -> str:
        """The model most recently used to index this library (``default`` for a new one)."""
        models = self.store.models.all()
        return models[0].spec if models else "default"

    def spec(self, spec: str | None) -> str:
        """``spec`` as the library keys it: its own model when None, a folder made absolute."""
        spec = spec or self.current_spec()
        if os.path.isdir(os.path.expanduser(spec)):
            spec = os.path.abspath(os.path.expanduser(spec))
        return spec

    def load(self, spec: str | None = None) -> tuple[Extractor, ModelRow]:
        """The extractor and store row of a model (cached per spec)."""
        from engine.network.loader import open_extractor

        spec = self.spec(spec)
        with self._lock:
            if spec not in self._loaded:
                ex, fingerprint = open_extractor(spec, self.device, self.precision)
                row = self.store.models.ensure(fingerprint, spec, ex.config.to_dict(), ex.dim)
                if not self.store.read_only:
                    ModelStamps(self.index_dir).record(spec, fingerprint)
                self._loaded[spec] = (ex, row)
            return self._loaded[spec]

    def row(self, spec: str | None = None) -> ModelRow:
        """The store row of a model, without loading it when its checkpoint files are those
        of an earlier load (see ``model_stamps``); else as ``load(spec)[1]``."""
        spec = self.spec(spec)
        with self._lock:
            if spec in self._loaded:
                return self._loaded[spec][1]
            fingerprint = ModelStamps(self.index_dir).fingerprint(spec)
            row = self.store.models.get(fingerprint) if fingerprint else None
            if row is None:
                return self.load(spec)[1]
            return self.store.models.ensure(row.fingerprint, spec, row.config, row.dim)
