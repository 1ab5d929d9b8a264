"""Near-duplicate groups: each photo's nearest neighbours above a similarity, joined
transitively (union-find)."""

from __future__ import annotations

from .results import Hit
from .store import Store
from .vectors import VectorIndex


def find_duplicates(
    store: Store, vi: VectorIndex, model_id: int, threshold: float = 0.95, k: int = 16
) -> list[list[Hit]]:
    """Groups of near-duplicate photos among ``model_id``'s vectors (``vi`` searches them):
    pairs with similarity ≥ ``threshold`` joined transitively, each photo's ``k`` nearest
    neighbours checked. Largest groups first; each group sorted by path."""
    parent: dict[int, int] = {}

    def find(a: int) -> int:
        while parent.setdefault(a, a) != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    best: dict[int, float] = {}
    for ids, xb in store.iter_vectors(model_id, chunk=4096):
        D, I = vi.search(xb, min(k + 1, max(vi.ntotal, 1)))
        for qi, drow, irow in zip(ids, D, I, strict=True):
            for d, j in zip(drow, irow, strict=True):
                if j < 0 or j == qi or d < threshold:
                    continue
                parent[find(int(qi))] = find(int(j))
                best[int(qi)] = max(best.get(int(qi), -1.0), float(d))
                best[int(j)] = max(best.get(int(j), -1.0), float(d))
    groups: dict[int, list[int]] = {}
    for a in list(parent):
        groups.setdefault(find(a), []).append(a)
    rows = store.files_by_ids(a for g in groups.values() for a in g)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        hits = sorted(
            (
                Hit(m, rows[m].display_path, best.get(m, 0.0), rows[m].width, rows[m].height)
                for m in members
                if m in rows
            ),
            key=lambda h: h.path,
        )
        out.append(hits)
    out.sort(key=lambda g: (-len(g), g[0].path))
    return out
