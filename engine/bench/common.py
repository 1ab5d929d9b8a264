"""What several benchmarks share: the spatial-context variants and who has them."""

from __future__ import annotations

import dataclasses

#: (name, architecture hyper-parameters) of each spatial-context variant
CONTEXT_VARIANTS: tuple[tuple[str, dict], ...] = (
    ("plain", {}),
    ("smoothing", {"smoothing": True}),
    ("gcn", {"gcn": True}),
    ("both", {"smoothing": True, "gcn": True}),
)


def context_architectures() -> list[str]:
    """Registered architectures whose hyper-parameters have the smoothing and GCN switches."""
    from engine.network.models import get_entry, list_models

    return [
        name
        for name in list_models()
        if {"smoothing", "gcn"} <= {f.name for f in dataclasses.fields(get_entry(name).params_cls)}
    ]
