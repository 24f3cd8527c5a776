"""The runs of the koi-per-core bench: one tool's figures for one N, and how N users become worlds and processes.

Past one process's descriptors a tool runs as several processes on the same core, and a target too is one
process with one descriptor limit: so N users are split into worlds of at most ``world`` users, one bundled
target and one tool process each (``world_sizes``), for every tool alike. A world's size sets its fan-out
(a channel has ``size / 100`` members), so every tool meets the same load per user at the same N. The
processes' figures are then summed, and a run is on time only when every process was (``combine``).
Pure (no I/O), unit-tested in ``tests/unit/test_bench_worlds.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench_scale import LAG_TARGET_SECONDS as LAG_TARGET  # lag p99 at or under this is "on time"

TARGET_SATURATED = 0.90  # the targets took this much of core 1: a late run says more of them than of the tool
MEMORY_SHARE = 0.7  # a run is started only when its projected RSS fits in this share of the available memory


@dataclass
class Run:
    tool: str
    n: int
    lag_p50: float | None  # seconds; with several processes, the worst of them
    lag_p99: float | None
    call_p99: float | None  # call end - scheduled time
    actions: float  # actions started in the window
    connected_start: int  # websockets the targets held at the window's start and end
    connected_end: int
    calls: float
    failed: float
    cpu: float  # share of core 0 the tool used in the window (every process of it)
    others: float  # share of core 0 other processes took in the window
    rss: int  # bytes, every process of the tool
    target_cpu: float = 0.0  # share of core 1 the targets used (School: over the whole run)
    processes: int = 1  # worlds: tool processes, each against its own target
    error: str | None = None

    @property
    def held(self) -> int:
        return min(self.connected_start, self.connected_end)

    @property
    def ok(self) -> bool:
        on_time = self.lag_p99 is not None and self.lag_p99 <= LAG_TARGET
        return self.error is None and on_time and self.held >= self.n

    @property
    def targets_saturated(self) -> bool:
        return self.target_cpu >= TARGET_SATURATED


def failed_run(tool: str, n: int, error: str, processes: int = 1) -> Run:
    return Run(tool, n, None, None, None, 0, 0, 0, 0, 0, 0.0, 0.0, 0, processes=processes, error=error)


def world_sizes(n: int, world: int) -> list[int]:
    """``n`` users as the fewest worlds of at most ``world`` users each, as even as they can be (largest first)."""
    if n < 1 or world < 1:
        raise ValueError(f"need n >= 1 and world >= 1, got n={n}, world={world}")
    count = -(-n // world)
    return [n // count + (1 if i < n % count else 0) for i in range(count)]


def _worst(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else max(v for v in values if v is not None)


def combine(runs: list[Run]) -> Run:
    """One figure for the processes of one run on one core.

    Counts, CPU, RSS and the targets' CPU add up. Lag is the worst process's: a tool is on time only when every
    process of it is (a pooled p99 can hide one late process behind others on time). Other processes'
    share of core 0 is what was busy beyond all of the tool's processes (each process saw its siblings as
    "others").
    """
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    errors = [r.error for r in runs if r.error]
    if errors:
        return failed_run(first.tool, sum(r.n for r in runs), errors[0], len(runs))
    cpu = sum(r.cpu for r in runs)
    busy = sum(r.cpu + r.others for r in runs) / len(runs)
    return Run(
        first.tool,
        sum(r.n for r in runs),
        _worst([r.lag_p50 for r in runs]),
        _worst([r.lag_p99 for r in runs]),
        _worst([r.call_p99 for r in runs]),
        sum(r.actions for r in runs),
        sum(r.connected_start for r in runs),
        sum(r.connected_end for r in runs),
        sum(r.calls for r in runs),
        sum(r.failed for r in runs),
        cpu,
        max(0.0, busy - cpu),
        sum(r.rss for r in runs),
        sum(r.target_cpu for r in runs),
        processes=len(runs),
    )


def memory_cap(runs: list[Run], available: int) -> int | None:
    """The most users whose RSS fits in ``MEMORY_SHARE`` of ``available`` bytes, from the largest run so far.

    RSS / N of that run includes the process's own baseline, so the cap errs low. None: no run to go by.
    """
    sized = [r for r in runs if r.rss > 0 and r.n > 0]
    if not sized:
        return None
    largest = max(sized, key=lambda r: r.n)
    return int(MEMORY_SHARE * available / (largest.rss / largest.n))
