"""Koi per core against k6 and Locust with the same user: the most users one core holds at schedule lag p99 <= 50 ms.

Every tool runs ``behaviors/average_user.yaml`` on core 0 against bundled targets on core 1:

* School: real ``Koi`` objects, by ``bench_scale.py``'s worker (``koi_pond_school_schedule_lag_seconds``,
  p99 interpolated in the histogram's buckets: 1, 5, 10, 25, 50 ms, ...).
* k6 (GOMAXPROCS=1) and Locust (``FastHttpUser`` + ``websocket-client``): scripts generated from the same
  behavior file by ``bench/peers/`` (rates, methods, paths and templates carried as JSON, templates parsed by
  the School's own parser). Each user waits a start-up delay, joins its 5 channels, holds one websocket (a
  ping every 30 s) and draws its actions as the merged Poisson process of the behavior's rates, one action
  at a time; lag = actual start - scheduled time, p99 over the window.

Worlds. One process may open RLIMIT_NOFILE descriptors (hard); a peer user takes two (its websocket and its
own keep-alive HTTP connection, as each tool pools per user), a koi one (HTTP goes through 64 shared
connections), and a target holds the other end of each. So N users run as the fewest worlds of at most
``(limit - 100) / 2`` users (9,950 here), each one tool process and one fresh bundled target, all the tool's
processes pinned to core 0, every tool alike (``per_core_runs.py``). A world's size sets its fan-out (5 of
500 channels a user, so size / 100 members a channel): the same N is the same load per user for every tool.
A run counts when every process's lag p99 <= 50 ms and the targets held all N websockets at the window's
start and end.

For each tool: a small run (the RSS baseline), then N from an estimate (the small run's CPU per user), doubled
while on time and bisected once late, one run per N; a miss while other processes took over 25 % of core 0
is run again (both are shown). N stops at what the tool's RSS so far says fits in 70 % of the memory
available at the start. Start-up spread 170 users/s for the whole run, whatever the number of processes;
then settle and measure. RSS per user = (RSS(N) - P RSS(small)) / (N - P small) over P processes, RSS at the
window's end. CPU per user is also compared with every tool at one N (one world's worth).

``BENCH_QUICK=1``: N <= 800 in worlds of 400, 10 s windows (a smoke run, no verdicts). Otherwise 40 s
windows, up to 5 steps after the small run.
"""

from __future__ import annotations

import contextlib
import functools
import math
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_scale
from common import ROOT, CpuSampler, Target, bundled_target, note, print_table, quick, raise_open_files, verdict
from harness import run_bench, run_worker
from peers.drive import Timing, run_peer
from peers.spec import behavior_spec, users
from per_core_runs import Run, combine, failed_run, memory_cap, world_sizes

from koipond.behavior_files import load_behavior_file

BEHAVIOR = ROOT / "behaviors" / "average_user.yaml"
WORKSPACE = "bench"
GOALS = {"k6": 10.0, "locust": 5.0}  # School users per core >= goal x the peer's
PEER_DESCRIPTORS_PER_USER = 2
PEER_FD_MARGIN = 100
QUICK_CAP = 800
QUICK_WORLD = 400  # so that a quick run, too, has runs of two worlds
MAX_USERS = 250_000  # 10x what one peer process can hold, and then some
STEPS = 5
DISTURBED = 0.25  # a run that missed while other processes took more of core 0 than this is run again
NAMES = {"school": "School koi", "k6": "k6 VU (k6/ws)", "locust": "Locust FastHttpUser + websocket-client"}


def timing(n: int) -> Timing:
    """Users start at bench_scale's rate (20,000 over 120 s: on a shared core, faster start-ups time out
    and retry); then settle and measure."""
    if quick():
        return Timing(spread=max(2.0, min(5.0, n / 400)), settle=2.0, window=10.0)
    return Timing(spread=max(5.0, n / 170), settle=10.0, window=20.0 if n <= 500 else 40.0)


def _school_world(n: int, total: int, target: Target) -> Run:
    """One School process holding ``n`` koi against ``target``, timed as a run of ``total`` users."""
    t = timing(total)
    args = [target.url, target.admin_token, str(n), str(t.spread), str(t.settle), str(t.window)]
    try:
        with CpuSampler(target.proc.pid) as sampler:
            r: dict[str, Any] = run_worker(Path(bench_scale.__file__), args, t.spread + t.settle + t.window + 300)
        target_cpu = sampler.share(r["window_start"], r["window_end"])
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return failed_run("school", n, str(exc))
    return Run(
        "school", n, r["lag_p50"], r["lag_p99"], r["call_p99"], r["actions_per_second"] * t.window,
        int(r["connected_start"]), int(r["connected_end"]), r["calls_in_window"], r["failed_calls"],
        r["cpu"], r["others_cpu"], int(r["rss_after"]), target_cpu,
    )  # fmt: skip


def _peer_world(
    tool: str, n: int, total: int, target: Target, spec: dict[str, Any], users_of_world: list[dict[str, Any]]
) -> Run:
    """One peer process with ``users_of_world`` of ``spec`` against ``target``, timed as a run of ``total`` users."""
    try:
        m = run_peer(tool, target, spec, users_of_world, timing(total))
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return failed_run(tool, n, str(exc))
    except SystemExit as exc:  # common.require: the tool is not installed
        return failed_run(tool, n, str(exc.code))
    s = m.summary
    if tool == "k6":  # k6's Trends are in ms, its counters {"count": ...}; absent when nothing was recorded
        lag, call = s.get("lag") or {}, s.get("call") or {}
        p50, p99, call_p99 = (
            v / 1000 if v is not None else None for v in (lag.get("p(50)"), lag.get("p(99)"), call.get("p(99)"))
        )
        count = lag.get("count", 0)
        calls, failed = ((s.get(k) or {}).get("count", 0) for k in ("calls", "failed"))
    else:
        p50, p99, count = (s["lag"][k] for k in ("p50", "p99", "count"))
        call_p99, calls, failed = s["call"]["p99"], s["calls"], s["failed"]
    return Run(tool, n, p50, p99, call_p99, count, m.connected_start, m.connected_end, calls, failed,
               m.cpu, m.others, m.rss, m.target_cpu)  # fmt: skip


def measure(tool: str, n: int, world: int) -> Run:
    """``n`` users of ``tool`` on core 0 as worlds of at most ``world`` users: a process and a target each.

    The targets start, and the peers' users get their tokens, before any tool process does; then every
    process runs at once, all timed as one run of ``n`` users (the same start-up rate per core whatever
    the number of processes).
    """
    sizes = world_sizes(n, world)
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(len(sizes)) as pool:
        try:
            worlds = [(size, stack.enter_context(bundled_target())) for size in sizes]
            if tool == "school":
                futures = [pool.submit(_school_world, size, n, target) for size, target in worlds]
            else:
                behavior = load_behavior_file(BEHAVIOR)
                spec = behavior_spec(behavior)
                facts = [users(target.mint(WORKSPACE, size), WORKSPACE, behavior) for size, target in worlds]
                futures = [
                    pool.submit(_peer_world, tool, size, n, target, spec, f)
                    for (size, target), f in zip(worlds, facts, strict=True)
                ]
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            return failed_run(tool, n, str(exc), len(sizes))
        return combine([f.result() for f in futures])


def _between(low: int, high: int) -> int:
    return int(round(math.sqrt(low * high), -2))


def search(
    run_at: Callable[[int], Run], base: Run, first: int, cap: Callable[[list[Run]], int], steps: int
) -> list[Run]:
    """After the small run ``base``: from ``first``, doubling while on time and bisecting once late.

    Stops at ``cap(runs so far)``, after ``steps`` runs, or once the largest N on time and the smallest N
    late are within 20 % of each other.
    """
    runs = [base]
    good, bad = (base.n, None) if base.ok else (None, base.n)
    n = first
    for _ in range(steps):
        limit = cap(runs)
        n = min(n, limit)
        if good is not None and n <= good:
            break
        runs += measured(run_at, n)
        if runs[-1].ok:
            good = max(good or 0, n)
        else:
            bad = min(bad or n, n)
        if good is None or good >= limit or (bad is not None and bad <= good * 1.2):
            break
        n = 2 * good if bad is None else _between(good, bad)
        if n in (good, bad):
            break
    return runs


def available_memory() -> int:
    """MemAvailable from /proc/meminfo, in bytes."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def users_cap(runs: list[Run], available: int) -> int:
    """The most users a run may have: the bench's cap, and what the tool's RSS so far says fits in memory."""
    if quick():
        return QUICK_CAP
    return min(MAX_USERS, memory_cap(runs, available) or MAX_USERS)


def _show(r: Run) -> None:
    lag = f"{r.lag_p99 * 1000:.1f} ms" if r.lag_p99 is not None else "-"
    state = r.error or ("on time" if r.ok else "late or not all connected")
    print(
        f"  {r.tool:>6} N={r.n:>6,}: lag p99 {lag}, call p99 {_ms(r.call_p99)} ms, held {r.held:,}, core {r.cpu:.0%}, "
        f"others {r.others:.0%}, target {r.target_cpu:.0%}: {state}",
        file=sys.stderr,
    )


def first_n(base: Run) -> int:
    """Where the small run's CPU per user would fill half the core (fan-out makes it an overestimate)."""
    if quick():
        return 4 * base.n
    per_user = max(base.cpu, 0.005) / base.n
    return max(2 * base.n, int(round(0.5 / per_user, -2)))


def measured(measure: Callable[[int], Run], n: int) -> list[Run]:
    """One run at ``n``, and a second one when it missed while other processes took much of core 0."""
    runs = [measure(n)]
    _show(runs[-1])
    if not quick() and not runs[-1].ok and runs[-1].others > DISTURBED:
        print(f"  others took {runs[-1].others:.0%} of core 0: once more", file=sys.stderr)
        runs.append(measure(n))
        _show(runs[-1])
    return runs


def main() -> int:
    hard = raise_open_files()
    # A world is what one peer process, and one target, can hold: two descriptors a peer user.
    world = (hard - PEER_FD_MARGIN) // PEER_DESCRIPTORS_PER_USER
    if quick():
        world = QUICK_WORLD
    small = 100 if quick() else 200
    available = available_memory()
    print(f"koi per core: average_user on core 0, worlds of <= {world:,} users (a process and a target each), "
          f"targets on core 1, {timing(10_000)}")  # fmt: skip
    results: dict[str, list[Run]] = {}
    caps: dict[str, int] = {}
    cap = functools.partial(users_cap, available=available)
    for tool in ("school", "k6", "locust"):
        run_at = functools.partial(measure, tool, world=world)
        base = run_at(small)
        _show(base)
        results[tool] = search(run_at, base, first_n(base), cap, 2 if quick() else STEPS)
        caps[tool] = cap(results[tool])
        if not any(r.n == world for r in results[tool]):
            results[tool] += measured(run_at, world)  # CPU per user compared at one N
    report(results, world, caps)
    broken = [tool for tool, runs in results.items() if all(r.error for r in runs)]
    for tool in broken:
        print(f"bench: {tool} failed to run: {results[tool][-1].error}", file=sys.stderr)
    return 1 if broken else 0


# --- report ----------------------------------------------------------------------------------------------


@dataclass
class Best:
    run: Run | None
    base: Run
    bound: str
    disturbed: bool = False  # the run that set the limit missed while others took much of core 0

    @property
    def users(self) -> int:
        return self.run.n if self.run else 0

    capped: bool = False  # on time at the most users the bench would run: a lower bound

    def rss_per_user(self, run: Run | None = None) -> float | None:
        """(RSS(N) - P RSS(small)) / (N - P small) over P processes, in bytes, at this tool's best N or at ``run``.

        Each process is the small run's baseline plus its users: the baselines are not per user.
        """
        run = run or self.run
        if run is None or not self.base.rss or not run.rss:
            return None
        users = run.n - run.processes * self.base.n
        return (run.rss - run.processes * self.base.rss) / users if users > 0 else None


def best_of(runs: list[Run], cap: int) -> Best:
    on_time = [r for r in runs if r.ok]
    if not on_time:
        return Best(None, runs[0], "no N on time", disturbed=all(r.others > DISTURBED for r in runs))
    top = max(on_time, key=lambda r: r.n)
    if top.n >= cap:
        why = "quick run's cap" if quick() else ("the bench's cap" if cap >= MAX_USERS else "memory")
        return Best(top, runs[0], f"{why} ({cap:,} users), core {top.cpu:.0%} busy", capped=True)
    later = [r for r in runs if not r.ok and r.n > top.n]
    if not later:
        return Best(top, runs[0], "steps ran out")
    late_n = min(r.n for r in later)
    first_late = [r for r in later if r.n == late_n]
    others = min(r.others for r in first_late)
    disturbed = others > DISTURBED
    bound = f"late at {late_n:,} with others at {others:.0%} of core 0" + (" (disturbed)" if disturbed else "")
    if all(r.targets_saturated for r in first_late):
        bound += f", the targets at {min(r.target_cpu for r in first_late):.0%} of core 1"
    return Best(top, runs[0], bound, disturbed)


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1000:,.1f}" if seconds is not None else "-"


def report(results: dict[str, list[Run]], common_n: int, caps: dict[str, int]) -> None:
    rows = [
        (NAMES[r.tool], r.n, r.processes, f"{_ms(r.lag_p50)} / {_ms(r.lag_p99)}", _ms(r.call_p99),
         f"{r.connected_start:,} / {r.connected_end:,}", f"{r.actions:,.0f}", f"{r.failed:,.0f} / {r.calls:,.0f}",
         f"{r.cpu:.0%}", f"{r.others:.0%}", f"{r.target_cpu:.0%}", f"{r.rss / 2**20:,.0f}",
         "yes" if r.ok else (r.error or "no")[:60])
        for runs in results.values() for r in runs
    ]  # fmt: skip
    headers = ("tool (core 0)", "N", "worlds", "lag p50 / p99 ms", "call p99 ms", "ws held start / end", "actions",
               "failed / calls", "tool core", "others core 0", "target core 1", "RSS MiB", "on time")  # fmt: skip
    print_table("every run (measurement window)", headers, rows)
    note("call p99 is measured from the scheduled time (as the School's duration histogram): it holds the target's "
         "answer time too (Python processes on core 1). worlds: tool processes on core 0, each against its own target. "
         "target core 1: the targets' share of core 1 in the window. "
         "lag: the worst of the processes.")  # fmt: skip
    best = {tool: best_of(runs, caps[tool]) for tool, runs in results.items()}
    school = best["school"]
    summary = []
    for tool, b in best.items():
        kib = b.rss_per_user()
        ratio = f"{school.users / b.users:.1f}x" if b.users else "-"
        kib_ratio = f"{kib / s_kib:.1f}x" if kib and (s_kib := school.rss_per_user()) else "-"
        summary.append(
            (NAMES[tool], f">= {b.users:,}" if b.capped else f"{b.users:,}", b.bound,
             _ms(b.run.lag_p99 if b.run else None),
             f"{b.run.others:.0%}" if b.run else "-", f"{kib / 1024:,.1f}" if kib else "-", ratio, kib_ratio)
        )  # fmt: skip
    best_headers = ("tool", "users per core (measured)", "bound by", "lag p99 ms", "others core 0", "KiB per user",
               "School users / this", "KiB this / School")  # fmt: skip
    print_table("users one core holds at lag p99 <= 50 ms, average_user (ratios: School's >= is a lower bound)",
                best_headers, summary)  # fmt: skip
    same_n = {
        tool: max((r for r in runs if r.n == common_n and not r.error), key=lambda r: r.ok, default=None)
        for tool, runs in results.items()
    }
    projection = compare_at(same_n, best, common_n)
    verdicts(best, projection)


def compare_at(same_n: dict[str, Run | None], best: dict[str, Best], n: int) -> dict[str, float]:
    """CPU and RSS per user with every tool at ``n`` users; returns users per core projected from CPU."""
    school = same_n["school"]
    rows, projection = [], {}
    for tool, r in same_n.items():
        if r is None or r.cpu <= 0:
            continue
        projection[tool] = r.n / r.cpu
        kib = best[tool].rss_per_user(r)
        ratio = f"{r.cpu / school.cpu:.1f}x" if school and school.cpu > 0 else "-"
        rows.append((NAMES[tool], r.n, _ms(r.lag_p99), f"{r.cpu:.1%}", f"{r.others:.0%}",
                     f"{kib / 1024:,.1f}" if kib else "-", ratio, f"{r.n / r.cpu:,.0f}"))  # fmt: skip
    headers = ("tool", "N", "lag p99 ms", "tool core", "others core 0", "KiB per user", "CPU this / School",
               "projection: N / core busy")  # fmt: skip
    print_table(f"every tool at N = {n:,}, one world (CPU per user compared at one N: fan-out per user grows with it)",
                headers, rows)  # fmt: skip
    return projection


def verdicts(best: dict[str, Best], projection: dict[str, float]) -> None:
    if quick():
        note(f"quick run: N is capped at {QUICK_CAP}, so the goals are judged by the full run only.")
        return
    school = best["school"]
    for tool, goal in GOALS.items():
        peer, name = best[tool], NAMES[tool]
        if not peer.users or not school.users:
            verdict(False, f"School >= {goal:.0f}x {name} users per core", "no on-time N for one of them")
            continue
        ratio = school.users / peer.users
        text = f"{ratio:.1f}x measured ({school.users:,} vs {peer.users:,})"
        if school.capped:
            text += f", the School's a lower bound ({school.bound})"
        if peer.disturbed:
            text += f"; not demonstrated: {name} was {peer.bound}"
        if "school" in projection and tool in projection:
            text += f"; projected from CPU per user at one N: {projection['school'] / projection[tool]:.1f}x"
        verdict(ratio >= goal and not peer.disturbed, f"School >= {goal:.0f}x {name} users per core", text)
        kib, s_kib = peer.rss_per_user(), school.rss_per_user()
        if kib and s_kib:
            note(f"KiB per user at each tool's N: {name} {kib / 1024:,.1f}, School {s_kib / 1024:,.1f} "
                 f"({kib / s_kib:.1f}x).")  # fmt: skip


if __name__ == "__main__":
    run_bench(__doc__, main, lambda argv: None)
