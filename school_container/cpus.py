"""How many CPUs this container may use: the default number of a School's worker processes."""

from __future__ import annotations

import math
import os
from pathlib import Path

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" in microseconds, or "max <period>"


def usable_cpus(affinity: int, cpu_max: str | None) -> int:
    """The CPUs the scheduler lets this process run on, capped by the cgroup's CPU quota (rounded up), at least 1.

    Args:
        affinity: how many CPUs the process may be scheduled on (``os.sched_getaffinity``).
        cpu_max: the text of cgroup v2's ``cpu.max``, or None where there is none.
    """
    cpus = max(1, affinity)
    parts = (cpu_max or "").split()
    if len(parts) == 2 and parts[0] != "max":
        try:
            quota, period = int(parts[0]), int(parts[1])
        except ValueError:
            return cpus
        if quota > 0 and period > 0:
            cpus = min(cpus, max(1, math.ceil(quota / period)))
    return cpus


def cpus_available() -> int:
    """:func:`usable_cpus` for this process, read from the system."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count() or 1
    try:
        cpu_max: str | None = CPU_MAX.read_text()
    except OSError:
        cpu_max = None
    return usable_cpus(affinity, cpu_max)
