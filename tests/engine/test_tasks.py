"""Progress messages carry this run's measured rate and the time left (``engine.tasks``)."""

from __future__ import annotations

from engine.tasks import Rate, with_rate


def test_a_stage_says_what_it_does_how_far_and_the_time_left_at_its_measured_rate():
    now = [100.0]
    said: list[tuple[int, int, str]] = []
    report = with_rate(
        lambda *a: said.append(a), "describing the photos", rate=Rate(clock=lambda: now[0])
    )
    report(0, 120, "")
    assert said[-1] == (0, 120, "describing the photos: 0/120 photos, measuring the rate")
    now[0] += 10.0  # 40 photos in 10 s: 4 photos/s, 80 left
    report(40, 120, "")
    assert said[-1] == (40, 120, "describing the photos: 40/120 photos, 4.0 photos/s, 20s left")
    now[0] += 10.0  # slower now: 10 photos in 10 s, the average over the window moves
    report(50, 120, "")
    assert said[-1][2].endswith("2.5 photos/s, 28s left")
    assert with_rate(None, "anything") is None
