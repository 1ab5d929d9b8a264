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

    def needs_vectors(self, spec: str | None = None) -> bool:
        """Whether ranking uses this model's vectors: a network that learned from photos
        (``engine.match.rank.learned_from_photos``). A checkpoint directory answers from its
        files without loading; an architecture name is loaded to know."""
        from engine.match.rank import learned_from_photos
        from engine.network.files import checkpoint_extra
        from engine.network.loader import checkpoint_dir

        spec = self.spec(spec)
        with self._lock:
            if spec in self._loaded:
                return learned_from_photos(self._loaded[spec][0].model)
        d = checkpoint_dir(spec)
        if d is not None:
            return int(checkpoint_extra(d).get("classes", 0) or 0) > 0
        return learned_from_photos(self.load(spec)[0].model)

    def row(self, spec: str | None = None) -> ModelRow:
        """The store row of a model, without loading it when its checkpoint files are those
        of an earlier load (see ``model_stamps``); else as ``load(spec)[1]``."""
        spec = self.spec(spec)
        with self._lock:
            if spec in self._loaded:
                return self._loaded[spec][1]
            stamps = ModelStamps(self.index_dir)
            fingerprint = stamps.fingerprint(spec)
            row = self.store.models.get(fingerprint) if fingerprint else None
            if row is not None:
                return self.store.models.ensure(row.fingerprint, spec, row.config, row.dim)
            row = self._row_from_files(spec)
            if row is None:
                return self.load(spec)[1]
            if not self.store.read_only:
                stamps.record(spec, row.fingerprint)
            return row

    def _row_from_files(self, spec: str) -> ModelRow | None:
        """A checkpoint folder's row from its files (config and weights hashed, the network
        not loaded: indexing that does not run it never loads it); None for an architecture
        name."""
        from engine.library.model_stamps import checkpoint_dir
        from engine.network.files import checkpoint_config, fingerprint_from_files

        d = checkpoint_dir(spec)
        if d is None:
            return None
        cfg = checkpoint_config(d)
        if not cfg.descriptor_dim:
            return None
        fingerprint = fingerprint_from_files(d)
        return self.store.models.ensure(fingerprint, spec, cfg.to_dict(), int(cfg.descriptor_dim))
