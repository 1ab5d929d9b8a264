"""The architectures this product knows, told without building one (no PyTorch): name, what
it is and one plain sentence for people choosing a model. The registry (``models.registry``)
takes both texts from here, and a test checks the two lists agree."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    name: str
    description: str
    summary: str


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(
            "cider",
            "CiDeR: ResNet → SE → SKNet (convex fusion) → attentional localization → GeM → FC → L2",
            "Focuses on the main object and plays down the background around it",
        ),
        Architecture(
            "gem",
            "ResNet → GeM pooling → whitening → L2 (baseline)",
            "Baseline: pools the whole photo into one vector; fastest, no attention map",
        ),
        Architecture(
            "ugalr",
            "UGALR: ResNet block 3 → LALM (non-local + channel attention) → block 4 (C+1) → GeM "
            "→ FC",
            "Attends to distinctive regions at five scales; indexing is about 4.5× slower",
        ),
    )
}


def architecture_names() -> list[str]:
    return sorted(ARCHITECTURES)
