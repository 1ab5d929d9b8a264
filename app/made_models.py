"""The models made in this session and the trained models Settings offers: the training wizard
adds each model it writes, and an open Settings dialog lists it at once."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class MadeModels(QObject):
    """Models made in this session (the training wizard adds each as it is written), so a
    Settings dialog lists a new model at once, even one saved outside the models folder."""

    added = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def add(self, path: str) -> None:
        if path not in self.paths:
            self.paths.append(path)
        self.added.emit(path)


_made: MadeModels | None = None


def made_models() -> MadeModels:
    """The one list of models made in this session (created on first use, GUI thread)."""
    global _made
    if _made is None:
        _made = MadeModels()
    return _made


def model_choices() -> list[str]:
    """Checkpoint folders to offer besides the architectures: the models folder's (newest
    first) and those made in this session."""
    from engine.training import trained_models

    found = trained_models()
    return found + [p for p in reversed(made_models().paths) if p not in found]
