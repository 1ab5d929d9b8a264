"""What a duplicate group may send to the trash: files, not paths.

Several paths can reach one file: a symbolic link and its target, two hard links, a photo
seen through a linked folder. They are one photo, never a duplicate pair, and trashing one
of them must never take the other: files are told apart by their device and inode
(``os.stat``, which follows links), and a file is judged by its real path. A photo whose real
file lies outside every indexed folder (by real path) is never offered for the trash. The
plan is made again, from the disk, just before anything moves (``TrashPlan``), so a file that
changed since the scan cannot slip through.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from engine.library.store.fspath import is_within

#: why a member of a group stays where it is
OUTSIDE = "outside the indexed folders: never moved to the trash"
GONE = "no longer on disk"
SAME_FILE = "the same file as the photo kept (another link to it)"
LINK_OUTSIDE = "a link in a folder outside the indexed folders: left where it is"


def identity(path: str | bytes) -> tuple[int, int] | None:
    """The file a path reaches, as ``(device, inode)`` (links followed); None when it cannot
    be reached."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def real_roots(folders: list[bytes]) -> list[bytes]:
    """The indexed folders by their real paths (links resolved), as bytes."""
    return [os.path.realpath(os.fsencode(f)) for f in folders]


def inside(path: str | bytes, roots: list[bytes] | None) -> bool:
    """Whether ``path``'s real path lies in one of ``roots`` (real paths; None: the folders
    are not known, and every path counts as inside)."""
    if roots is None:
        return True
    real = os.path.realpath(os.fsencode(path))
    return any(is_within(real, r) for r in roots)


def entry(path: str) -> str:
    """The directory entry that moving ``path`` would move: its folder resolved, its own name
    kept (a symbolic link moves as the link, not as its target)."""
    head, tail = os.path.split(path)
    return os.path.join(os.path.realpath(head), tail)


def _listed(path: str, roots: list[bytes] | None) -> bool:
    """Whether the entry ``path`` (its folder already resolved) sits in one of ``roots``."""
    return roots is None or any(is_within(os.fsencode(path), r) for r in roots)


@dataclass
class TrashPlan:
    """The files that go (``go``), the photo kept (``keep``) and every other file that stays,
    each with its reason (``stay``)."""

    keep: str
    go: list[str] = field(default_factory=list)
    stay: list[tuple[str, str]] = field(default_factory=list)


def plan(
    keep: str, keep_links: list[str], others: dict[str, list[str]], roots: list[bytes] | None
) -> TrashPlan:
    """Keep the photo at ``keep`` (and its other paths ``keep_links``); ``others``: each other
    photo's path and its other paths (links to the same file); ``roots``: the indexed folders'
    real paths (None: not known). Returns a ``TrashPlan`` made from the disk as it is now."""
    out = TrashPlan(keep)
    kept = identity(keep)
    if kept is None:  # nothing goes when the copy to keep is not there
        out.stay = [(p, f"the photo to keep ({keep}) is {GONE}") for p in others]
        return out
    keep_files = {kept} | {i for i in map(identity, keep_links) if i is not None}
    for path, links in others.items():
        files = [path, *links]
        ids = {identity(p) for p in files}
        if None in ids and len(ids) == 1:
            out.stay.append((path, GONE))
        elif ids & keep_files:
            out.stay.append((path, SAME_FILE))
        elif not all(inside(p, roots) for p in files if identity(p) is not None):
            out.stay.append((path, OUTSIDE))
        else:  # the photo and every link to it inside the indexed folders: none left dangling
            for p in filter(os.path.lexists, files):
                if _listed(entry(p), roots):
                    out.go.append(p)
                else:
                    out.stay.append((p, LINK_OUTSIDE))
    return out
