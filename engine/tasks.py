"""How long work reports progress and is stopped: two plain callables, never a GUI object.

``progress(done, total, message)`` and ``should_stop() -> bool`` are what every long engine
function takes; the window adapts them to its signals. ``stage`` splits one progress bar over
consecutive stages (Orange's ``wrap_callback``).
"""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[int, int, str], None]
StopFn = Callable[[], bool]


def stage(progress: ProgressFn | None, start: float, end: float) -> ProgressFn | None:
    """A ``progress`` for one stage that fills ``[start, end]`` (fractions) of the whole bar,
    reported on a scale of 1,000."""
    if progress is None:
        return None

    def report(done: int, total: int, message: str) -> None:
        frac = done / total if total else 1.0
        progress(round(1000 * (start + (end - start) * frac)), 1000, message)

    return report
