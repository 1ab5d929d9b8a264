"""How many CPU cores this process may use (torch-free).

``os.cpu_count()`` counts the machine's cores; a container, ``taskset`` or a job scheduler
may give the process fewer. Decoding workers and SIFT processes default to this number.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """The cores this process may run on (at least 1)."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if count is not None:
        return max(1, count() or 1)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        return max(1, os.cpu_count() or 1)
