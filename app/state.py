"""What the panels share: the library, the user's settings and the model that serves."""

from __future__ import annotations

from dataclasses import dataclass

from app.settings import Settings
from engine.library import Library


@dataclass
class AppState:
    library: Library
    settings: Settings
    #: the model searches and indexing use (``None``: the library's own)
    model_spec: str | None = None

    @staticmethod
    def model_from_settings(settings: Settings) -> str | None:
        return settings.model if settings.model != "default" else None
