"""visual-search engine: models, extraction and checkpoints (plain Python + torch, never Qt)."""

__version__ = "0.1.0"
