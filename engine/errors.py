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


class CancelledError(VisualSearchError):
    """Long work stopped because ``should_stop()`` said so; nothing half-done was kept."""
