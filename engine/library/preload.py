"""Importing, ahead of time, what searching and indexing load on first use.

``Library`` imports the network code (torch) only when a model is needed, so the command
line's ``index`` of an unchanged folder, ``status`` or ``errors`` never pay for it. A desktop
window is the other way round: a first import on a worker thread holds the interpreter lock
for hundreds of milliseconds at a time (unmarshalling code, Qt's import hook reading
sources), and the event loop stalls. ``import_engine()`` lets the window pay for it on its
main thread, while its "opening" window is on screen.
"""

from __future__ import annotations

import importlib

#: what a search, an index run, heatmaps and outlines import on first use
MODULES = (
    "torch",
    "engine.network.checkpoint",
    "engine.network.extract",
    "engine.photo.device_decode",
    "engine.library.query.search",
    "engine.library.query.session",
    "engine.network.seed",
    "engine.library.index.folders",
)


def import_engine() -> None:
    for name in MODULES:
        importlib.import_module(name)
