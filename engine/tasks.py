"""How long work reports progress and is stopped: two plain callables, never a GUI object.

``progress(done, total, message)`` and ``should_stop() -> bool`` are what every long engine
function takes; the window adapts them to its signals. ``stage`` splits one progress bar over
consecutive stages (Orange's ``wrap_callback``); ``Rate`` is a run's measured rate and time
left, and ``with_rate`` adds it to a stage's messages.
"""

from __future__ import annotations

import time
from collections import deque
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


class Rate:
    """This run's measured rate and the time left: items done per second over the last
    ``window`` seconds (a moving average, so a slowdown shows within a window and an early
    burst does not promise too much), never a constant.

    ``update(done)`` after each item; ``per_second()`` is None until the first ``min_span``
    seconds of work have been seen.
    """

    def __init__(
        self,
        window: float = 30.0,
        min_span: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window, self.min_span, self.clock = window, min_span, clock
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, done: int) -> None:
        now = self.clock()
        self._samples.append((now, done))
        # keep one sample at or before the window's start, so the average spans the window
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def per_second(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if t1 - t0 < self.min_span:
            return None
        return (d1 - d0) / (t1 - t0)

    def seconds_left(self, remaining: int) -> float | None:
        rate = self.per_second()
        if rate is None:
            return None
        if rate <= 0:
            return float("inf")
        return remaining / rate

    def text(self, done: int, total: int, unit: str = "photos") -> str:
        """``"8.4 photos/s, 1m52s left"`` (``"measuring the rate"`` at first)."""
        rate = self.per_second()
        if rate is None:
            return "measuring the rate"
        left = self.seconds_left(total - done)
        return f"{rate:.1f} {unit}/s, {format_seconds(left)} left"


def with_rate(
    progress: ProgressFn | None, what: str, unit: str = "photos", rate: Rate | None = None
) -> ProgressFn | None:
    """A ``progress`` whose messages say ``what`` is being done, how far, at this run's rate
    and the time left: ``"describing the photos: 40/120 photos, 3.1 photos/s, 26s left"``."""
    if progress is None:
        return None
    rate = rate or Rate()

    def report(done: int, total: int, message: str) -> None:
        rate.update(done)
        progress(done, total, f"{what}: {done}/{total} {unit}, {rate.text(done, total, unit)}")

    return report


def format_seconds(seconds: float | None) -> str:
    """``42s``, ``3m05s``, ``2h07m``; ``?`` when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
