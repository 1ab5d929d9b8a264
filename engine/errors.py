"""Exceptions the engine raises for problems a user can act on.

Each carries a one-line message; the CLI prints it and exits non-zero, the GUI shows it.
"""


class VisualSearchError(Exception):
    """Base class: a problem with the user's input, not a bug."""


class BadImageError(VisualSearchError):
    """A photo that cannot be decoded (corrupt, truncated, too large, not an image...)."""


class CheckpointError(VisualSearchError):
    """A checkpoint directory that cannot be loaded."""


class ConfigError(VisualSearchError):
    """An invalid model or extraction setting."""


class InputFileError(VisualSearchError):
    """A file the user named that is refused before or while it is read: not a regular file
    (a FIFO, device, socket), too large, too deeply nested, or not the text it should be."""


class CancelledError(VisualSearchError):
    """Long work stopped because ``should_stop()`` said so; nothing half-done was kept."""


#: how to get what the light install leaves out
TRAIN_EXTRA = "pip install 'visual-search[train]'"
FAISS_EXTRA = "pip install 'visual-search[faiss]'"


class NeedsTorch(VisualSearchError):
    """A step that only PyTorch can run, on an install without it."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} needs PyTorch, which this install does not have: {TRAIN_EXTRA}")


class NeedsFaiss(VisualSearchError):
    """A step that only FAISS can run (approximate search, the GPU), on an install without it."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} needs FAISS, which this install does not have: {FAISS_EXTRA}")
