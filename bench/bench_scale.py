"""One School-side process on one core holding ~20,000 connected koi of ``behaviors/average_user.yaml``.

The bundled target runs on core 1; the koi (real ``Koi`` objects on one ``NativeWebApi``, the School's default, and
``SchoolMetrics``, tokens minted by the target's admin endpoint through the School's
``MintingTokenSource``, on uvloop as the School runs) on core 0. Koi start spread over a start-up
window, settle, then the ``koi_pond_school_schedule_lag_seconds`` histogram is read over a measurement
window: its p99 is how late the School starts actions when one core carries that many koi.

Limits of this machine, stated rather than hidden: a process may hold at most RLIMIT_NOFILE (hard)
descriptors, and each connected koi holds one websocket, so N is capped at that limit minus the HTTP
pool and a margin. Websockets and HTTP calls are the School's own clients, HTTP at most HTTP_POOL in flight.

``BENCH_QUICK=1``: 1,000 koi, 10 s spread, 20 s window. Otherwise up to 20,000 koi, 120 s spread,
30 s settle, 120 s window (``BENCH_SCALE_KOI``, ``BENCH_SCALE_SPREAD``, ``BENCH_SCALE_WINDOW`` override).
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import (
    CLIENT_CORE,
    ROOT,
    bundled_target,
    core_busy_seconds,
    cpu_seconds,
    note,
    print_table,
    quick,
    raise_open_files,
    rss_bytes,
    verdict,
)
from harness import print_result, run_bench, run_worker

from koipond import metric_names as mn

WANTED_KOI = 20_000
HTTP_POOL = 64  # HTTP connections beside the websockets: ~210 calls/s, ~20 in flight on average
FD_MARGIN = 40  # stdio, the event loop's epoll and wake-up descriptors, spare
LAG_TARGET_SECONDS = 0.050
STOP_GRACE_SECONDS = 30.0
WORKSPACE = "bench"


# --- reading the School's histograms -----------------------------------------------------------------


def buckets(histogram: Any) -> dict[float, float]:
    """Cumulative bucket counts of a prometheus_client histogram, summed over its label sets."""
    found: dict[float, float] = {}
    for family in histogram.collect():
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                le = float(sample.labels[mn.BUCKET_BOUND_LABEL])
                found[le] = found.get(le, 0.0) + sample.value
    return dict(sorted(found.items()))


def quantile(q: float, before: dict[float, float], after: dict[float, float]) -> tuple[float, float]:
    """``histogram_quantile(q)`` over the window between two snapshots, and the window's count.

    Linear interpolation inside the bucket, as Prometheus does; past the last finite bound the answer is
    that bound (the true value is larger).
    """
    window = {le: after[le] - before.get(le, 0.0) for le in after}
    total = window[float("inf")]
    if total <= 0:
        return float("nan"), 0.0
    rank, lower, below = q * total, 0.0, 0.0
    for le, count in window.items():
        if count >= rank:
            if le == float("inf"):
                return lower, total
            return lower + (le - lower) * ((rank - below) / (count - below) if count > below else 1.0), total
        lower, below = le, count
    return lower, total


def share_within(bound: float, before: dict[float, float], after: dict[float, float]) -> float:
    total = after[float("inf")] - before.get(float("inf"), 0.0)
    return (after[bound] - before.get(bound, 0.0)) / total if total else float("nan")


# --- the School's side (a worker process pinned to core 0) -------------------------------------------


class StallWatch:
    """What can hold every koi up at once: event-loop stalls (a 5 ms sleep that overruns) and GC pauses."""

    TICK = 0.005

    def __init__(self) -> None:
        self.stalls = self.gc_full = 0
        self.stall_max = self.gc_seconds = self.gc_max = self.gc_cpu_max = self.gc_cpu = 0.0
        self.gc_max_generation = -1
        self._gc_started = self._gc_cpu_started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        # Wall time and this thread's CPU time: on a shared core a pause can be long only because the
        # process was not running, which the CPU time tells apart.
        if phase == "start":
            self._gc_started, self._gc_cpu_started = time.perf_counter(), time.thread_time()
            return
        pause = time.perf_counter() - self._gc_started
        self.gc_seconds += pause
        if pause > self.gc_max:
            self.gc_max, self.gc_max_generation = pause, info["generation"]
        cpu = time.thread_time() - self._gc_cpu_started
        self.gc_cpu += cpu
        self.gc_cpu_max = max(self.gc_cpu_max, cpu)
        self.gc_full += info["generation"] == 2

    def stop(self) -> None:
        """Stop counting: what the stop of every koi costs afterwards is not the window's."""
        gc.callbacks.remove(self._on_gc)

    async def watch(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.TICK)
            overrun = time.perf_counter() - before - self.TICK
            self.stall_max = max(self.stall_max, overrun)
            self.stalls += overrun > LAG_TARGET_SECONDS


class Snapshot:
    def __init__(self, metrics: Any) -> None:
        registry = metrics.registry
        self.at, self.cpu = time.monotonic(), time.process_time()
        self.wall = time.time()  # for the other side: the window in Unix time
        self.core_busy = core_busy_seconds(CLIENT_CORE)
        self.lag = buckets(metrics.schedule_lag)
        self.duration = buckets(metrics.duration)
        self.calls = 0.0
        self.failed_by: dict[str, float] = {}  # "method status" -> calls
        for family in metrics.calls.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    self.calls += sample.value
                    method, status = sample.labels[mn.METHOD_LABEL], sample.labels[mn.STATUS_LABEL]
                    if status in mn.FAILED_CALL_STATUSES:
                        kind = f"{method} {status}"
                        self.failed_by[kind] = self.failed_by.get(kind, 0.0) + sample.value
        self.failed = sum(self.failed_by.values())

        def value(name: str) -> float:
            return float(registry.get_sample_value(name) or 0.0)

        self.connected = value(mn.SCHOOL_WEBSOCKET_CONNECTIONS)
        self.connects = value(mn.SCHOOL_WEBSOCKET_CONNECTS_TOTAL)
        self.connect_failures = value(mn.SCHOOL_WEBSOCKET_CONNECT_FAILURES_TOTAL)
        self.disconnects = value(mn.SCHOOL_WEBSOCKET_DISCONNECTS_TOTAL)
        self.events = sum(s.value for f in metrics.ws_events.collect() for s in f.samples if s.name.endswith("_total"))


async def _scale_worker(
    target_url: str, admin_token: str, n: int, spread: float, settle: float, window: float
) -> dict[str, object]:
    from koipond.behavior_files import load_behavior_file
    from koipond.tokens.mint_origins import MintOrigins
    from school_container.koi import Koi, LoadTestContext
    from school_container.memory import freeze_survivors, tune_collector
    from school_container.metrics import SchoolMetrics
    from school_container.tokens import MintingTokenSource
    from school_container.web_api import NativeWebApi

    metrics = SchoolMetrics()
    web_api = NativeWebApi(HTTP_POOL)  # websockets are not pooled: one connection per koi
    behavior = load_behavior_file(ROOT / "behaviors" / "average_user.yaml")
    ctx = LoadTestContext("bench-scale", WORKSPACE, target_url, behavior, web_api, metrics, spread)
    origins = MintOrigins.parse(target_url)
    tokens = await MintingTokenSource(admin_token, origins).tokens_for(target_url, WORKSPACE, range(n))
    rss_before = rss_bytes()
    started = time.monotonic()
    tune_collector()  # as the School does (school_container/main.py)
    freezer = asyncio.create_task(freeze_survivors())
    tasks = [asyncio.create_task(Koi(ctx, i, tokens[i]).swim()) for i in range(n)]
    del tokens
    while (remaining := spread + settle - (time.monotonic() - started)) > 0:
        await asyncio.sleep(min(15.0, remaining))
        now = Snapshot(metrics)
        elapsed = time.monotonic() - started
        print(f"  warm-up {elapsed:4.0f}s: {now.connected:7,.0f} connected, {now.calls:9,.0f} calls", file=sys.stderr)
    stalls = StallWatch()
    watcher = asyncio.create_task(stalls.watch())
    first = Snapshot(metrics)
    await asyncio.sleep(window)
    last = Snapshot(metrics)
    watcher.cancel()
    stalls.stop()
    freezer.cancel()
    rss_after = rss_bytes()
    descriptors = len(os.listdir("/proc/self/fd"))
    for task in tasks:
        task.cancel()
    # The School stops koi the same way (cancel, then gather): a koi that ignores it would hang a stop.
    _, stuck = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
    await web_api.close()
    seconds = last.at - first.at
    lag_p99, actions = quantile(0.99, first.lag, last.lag)
    return {
        "koi": n,
        "window_start": first.wall,
        "window_end": last.wall,
        "connected_start": first.connected,
        "connected_end": last.connected,
        "min_connected": min(first.connected, last.connected),
        "connects": last.connects,
        "connect_failures": last.connect_failures,
        "disconnects": last.disconnects,
        "lag_p99": lag_p99,
        "lag_p50": quantile(0.50, first.lag, last.lag)[0],
        "within_50ms": share_within(LAG_TARGET_SECONDS, first.lag, last.lag),
        "actions_per_second": actions / seconds,
        "calls_per_second": (last.calls - first.calls) / seconds,
        "failed_calls": last.failed - first.failed,
        "failed_by": ", ".join(
            f"{kind} {count - first.failed_by.get(kind, 0.0):,.0f}"
            for kind, count in sorted(last.failed_by.items())
            if count > first.failed_by.get(kind, 0.0)
        ),
        "calls_in_window": last.calls - first.calls,
        "call_p99": quantile(0.99, first.duration, last.duration)[0],
        "events_per_second": (last.events - first.events) / seconds,
        "cpu": (last.cpu - first.cpu) / seconds,
        "others_cpu": max(0.0, (last.core_busy - first.core_busy) - (last.cpu - first.cpu)) / seconds,
        "rss_per_koi": (rss_after - rss_before) / n,
        "rss_after": rss_after,
        "descriptors": descriptors,
        "descriptor_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "stuck_after_cancel": len(stuck),
        "stalls": stalls.stalls,
        "stall_max": stalls.stall_max,
        "gc_full": stalls.gc_full,
        "gc_seconds": stalls.gc_seconds,
        "gc_max": stalls.gc_max,
        "gc_max_generation": stalls.gc_max_generation,
        "gc_cpu_max": stalls.gc_cpu_max,
        "gc_cpu": stalls.gc_cpu,
    }


def worker_main(argv: list[str]) -> None:
    import uvloop

    raise_open_files()
    url, admin, n, spread, settle, window = argv[0], argv[1], int(argv[2]), *map(float, argv[3:6])

    async def report() -> None:
        print_result(await _scale_worker(url, admin, n, spread, settle, window))
        os._exit(0)  # koi that ignored their cancel would hold up the loop's own task clean-up forever

    uvloop.run(report())


# --- the run -----------------------------------------------------------------------------------------


def main() -> int:
    hard = raise_open_files(WANTED_KOI + HTTP_POOL + FD_MARGIN)
    ceiling = hard - HTTP_POOL - FD_MARGIN
    if quick():
        n, spread, settle, window = 1000, 10.0, 5.0, 20.0
    else:
        n = int(os.environ.get("BENCH_SCALE_KOI", str(WANTED_KOI)))
        spread = float(os.environ.get("BENCH_SCALE_SPREAD", "120"))
        settle, window = 30.0, float(os.environ.get("BENCH_SCALE_WINDOW", "120"))
    capped = n > ceiling
    n = min(n, ceiling)
    print(f"scale: {n:,} koi of average_user on core 0 against the bundled target on core 1")
    print(f"       start-up spread {spread:.0f}s, settle {settle:.0f}s, measurement window {window:.0f}s")
    if capped:
        note(
            f"RLIMIT_NOFILE is {hard:,} (hard) for this process tree and raising it failed (it needs "
            f"CAP_SYS_RESOURCE, which this machine does not grant, even to root); one websocket per koi plus "
            f"{HTTP_POOL} HTTP connections caps one process at {n:,} koi."
        )
    with bundled_target() as target:
        target_cpu0, t0 = cpu_seconds(target.proc.pid), time.monotonic()
        args = [target.url, target.admin_token, str(n), str(spread), str(settle), str(window)]
        try:
            r = run_worker(Path(__file__), args, timeout=spread + settle + window + 300)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            print(f"bench: the School side failed to run: {exc}", file=sys.stderr)
            return 1
        target_cpu = (cpu_seconds(target.proc.pid) - target_cpu0) / (time.monotonic() - t0)
        dropped = target.metric(mn.TARGET_WEBSOCKET_EVENTS_DROPPED_TOTAL)
    report(r, target_cpu, dropped)
    return 0


def report(r: dict[str, object], target_cpu: float, dropped: float) -> None:
    failed_by = str(r.pop("failed_by"))
    f = {k: float(str(v)) for k, v in r.items()}
    rows = [
        ("koi (one process, core 0)", f"{f['koi']:,.0f}"),
        (
            "descriptors open at window end / the process's limit",
            f"{f['descriptors']:,.0f} / {f['descriptor_limit']:,.0f}",
        ),
        ("websockets connected, window start / end", f"{f['connected_start']:,.0f} / {f['connected_end']:,.0f}"),
        (
            "websocket connects / connect failures / drops",
            f"{f['connects']:,.0f} / {f['connect_failures']:,.0f} / {f['disconnects']:,.0f}",
        ),
        ("schedule lag p50 / p99 (window)", f"{f['lag_p50'] * 1000:.1f} ms / {f['lag_p99'] * 1000:.1f} ms"),
        ("actions started within 50 ms", f"{f['within_50ms']:.2%}"),
        ("Web API calls/s (window)", f"{f['calls_per_second']:,.1f}"),
        ("failed calls (window)", f"{f['failed_calls']:,.0f} of {f['calls_in_window']:,.0f}"),
        ("failed calls by method and status", failed_by or "none"),
        ("call latency p99 from scheduled time", f"{f['call_p99'] * 1000:.1f} ms"),
        ("websocket events received/s", f"{f['events_per_second']:,.0f}"),
        ("School core busy (window)", f"{f['cpu']:.0%}"),
        ("event-loop stalls > 50 ms / longest", f"{f['stalls']:,.0f} / {f['stall_max'] * 1000:.0f} ms"),
        (
            "GC: full collections / total / longest pause",
            f"{f['gc_full']:,.0f} / {f['gc_seconds'] * 1000:,.0f} ms / {f['gc_max'] * 1000:.0f} ms",
        ),
        (
            "GC in CPU time: total / longest (generation of the longest in wall time)",
            f"{f['gc_cpu'] * 1000:,.0f} ms / {f['gc_cpu_max'] * 1000:.0f} ms ({f['gc_max_generation']:.0f})",
        ),
        ("core 0 taken by other processes (window)", f"{f['others_cpu']:.0%}"),
        ("target core busy (whole run)", f"{target_cpu:.0%}"),
        ("target fan-out events dropped", f"{dropped:,.0f}"),
        ("koi not stopped 30 s after cancel", f"{f['stuck_after_cancel']:,.0f}"),
        (
            "School RSS / per koi (with traffic)",
            f"{f['rss_after'] / 2**20:,.0f} MiB / {f['rss_per_koi'] / 1024:.1f} KiB",
        ),
    ]
    print_table("one School process, average_user, bundled target", ("figure", "value"), rows)
    lag_ok = f["lag_p99"] <= LAG_TARGET_SECONDS
    verdict(lag_ok, "scheduling lag p99 <= 50 ms on one core", f"{f['lag_p99'] * 1000:.1f} ms at {f['koi']:,.0f} koi")
    held = min(f["connected_start"], f["connected_end"])
    if quick():
        note(f"quick run: the {WANTED_KOI:,}-koi target is judged by the full run only.")
        return
    limit = f["descriptor_limit"]
    why = f"; {WANTED_KOI:,} websockets need more descriptors than this process may open ({limit:,.0f})"
    verdict(
        held >= WANTED_KOI and lag_ok,
        f"one School process holds {WANTED_KOI:,} connected koi at average_user rates",
        f"held {held:,.0f} of {f['koi']:,.0f} started" + (why if f["koi"] < WANTED_KOI else ""),
    )


if __name__ == "__main__":
    run_bench(__doc__, main, worker_main)
