"""Importing, ahead of time, what searching and indexing load on first use.

``Library`` imports the network code only when a model is needed, so the command line's
``index`` of an unchanged folder, ``status`` or ``errors`` never pay for it. A desktop window
is the other way round: a first import on a worker thread holds the interpreter lock for
hundreds of milliseconds at a time (unmarshalling code, Qt's import hook reading sources), and
the event loop stalls. ``import_engine(model)`` lets the window pay for it on its main thread,
while its "opening" window is on screen — only for the runtime that will run ``model``: ONNX
Runtime (a fraction of a second) where it runs through ONNX, PyTorch (seconds) where it runs
through PyTorch.
"""

from __future__ import annotations

import importlib

#: what a search, an index run, heatmaps and outlines import on first use, whatever the runtime
COMMON = (
    "engine.library.query.search",
    "engine.library.query.session",
    "engine.network.seed",
    "engine.library.index.folders",
)
#: and per runtime
RUNTIME = {
    "onnx": ("onnxruntime", "engine.network.onnx_model"),
    "torch": (
        "torch",
        "engine.network.checkpoint",
        "engine.network.extract",
        "engine.photo.device_decode",
    ),
}


def import_engine(model: str | None = None) -> str:
    """Import what running ``model`` (None: the bundled default) will need; returns the
    runtime, ``onnx`` or ``torch``. Raises ImportError where that runtime is not installed
    (the modules every runtime shares are imported first)."""
    from engine.errors import ConfigError
    from engine.network.loader import choose_runtime

    for name in COMMON:
        importlib.import_module(name)
    try:
        runtime = choose_runtime(model)
    except ConfigError:  # an unknown runtime forced by the environment: the library says so
        return "none"
    for name in RUNTIME[runtime]:
        importlib.import_module(name)
    return runtime
