"""Retrieval models, registered by name (importing this package registers them all)."""

from engine.network.models import cider, gem, ugalr  # noqa: F401  (registration side effect)
from engine.network.models.base import ModelOutput, RetrievalModel
from engine.network.models.registry import create_model, get_entry, list_models

__all__ = ["ModelOutput", "RetrievalModel", "create_model", "get_entry", "list_models"]
