"""User settings: a JSON file under the platform's config dir, with a schema version."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

SCHEMA_VERSION = 1


def settings_path() -> Path:
    home = os.environ.get("VISUAL_SEARCH_HOME")
    base = (
        Path(home) / "config"
        if home
        else Path(platformdirs.user_config_dir("visual-search", appauthor=False))
    )
    return base / "settings.json"


#: one line per choice, shown beside the Settings dialog's combo boxes and as their tooltips
DEVICE_DESCRIPTIONS = {
    "auto": "The NVIDIA GPU when there is one, otherwise the CPU",
    "cpu": "The processor: works on every machine; indexing and training are slower",
    "cuda": "An NVIDIA GPU (CUDA): indexing and training many times faster",
}
INDEX_DESCRIPTIONS = {
    "auto": "Exact search up to {threshold:,} photos, the approximate graph beyond",
    "flat": "Exact: compares the query with every photo; complete, slower on huge libraries",
    "hnsw": "Approximate graph (HNSW): fast on huge libraries, may miss a few matches",
}
#: what "auto" does where the approximate graph cannot be built (no FAISS)
INDEX_AUTO_EXACT = "Exact search at every size (the approximate graph needs FAISS)"
KEEP_UP_TO_DATE_HELP = (
    "Watch the indexed folders: photos added, changed, moved or deleted there are indexed in "
    "the background while the window is open, and when it opens"
)
DEFAULT_MODEL_DESCRIPTION = (
    "The bundled model (ResNet-18 GeM, trained on generated objects); nothing to download"
)


@dataclass
class Settings:
    model: str = "default"
    device: str = "auto"  # auto | cpu | cuda
    index_kind: str = "auto"  # auto | flat | hnsw
    thumbnail_size: int = 160
    exclude: list[str] = field(default_factory=list)
    #: new, changed, moved and deleted photos in indexed folders are indexed as they appear
    keep_up_to_date: bool = True
    #: the folder the last file dialog was left in ("" until one was used)
    last_folder: str = ""
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def load(cls, path: Path | None = None) -> tuple[Settings, str | None]:
        """The saved settings, or defaults with a one-line reason when they cannot be used."""
        path = path or settings_path()
        if not path.exists():
            return cls(), None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if int(raw.get("schema_version", 0)) > SCHEMA_VERSION:
                return cls(), f"{path}: written by a newer version; using defaults"
            known = {f.name for f in dataclasses.fields(cls)}
            s = cls(**{k: v for k, v in raw.items() if k in known})
            s.schema_version = SCHEMA_VERSION
            return s, None
        except (ValueError, TypeError, AttributeError, OSError) as e:
            return cls(), f"{path}: unreadable settings ({e}); using defaults"

    def start_folder(self) -> str:
        """Where a file dialog opens: the folder used last, else Pictures, else home."""
        for d in (self.last_folder, platformdirs.user_pictures_dir(), str(Path.home())):
            if d and os.path.isdir(d):
                return d
        return ""

    def remember_folder(self, path: str) -> None:
        """A file dialog chose ``path`` (a folder, or a file in one): the next opens there."""
        d = path if os.path.isdir(path) else os.path.dirname(path)
        if d and d != self.last_folder:
            self.last_folder = d
            with contextlib.suppress(OSError):  # a read-only config dir: remembered till exit
                self.save()

    def save(self, path: Path | None = None) -> None:
        path = path or settings_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=1), encoding="utf-8")
        os.replace(tmp, path)
