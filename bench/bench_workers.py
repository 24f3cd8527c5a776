"""One School, every core: a School of 2 worker processes holds about twice the koi of 1 at the same schedule lag.

The real thing end to end: a local pond's Keeper (embedded AWS + Keeper, as ``koipond up`` runs them),
``koipond school --workers N`` as its one School, and two bundled targets. A process may hold at most
RLIMIT_NOFILE descriptors (hard; 20,000 on this machine) and each connected koi holds a websocket, so one
School process, and one target, is capped near 19,900 koi: run 1 is one worker holding N koi, run 2 two
workers holding 2N. Each run starts two tests of ``behaviors/average_user.yaml``, one per target, so no
target holds more than N websockets. Users' tokens are minted by each target and stored as the token
pipeline's shards in the embedded AWS, where the School reads them (one School, two targets' tokens).

The targets, the Keeper and the embedded AWS are pinned to core 1, the School (supervisor and workers)
to core 0 as bench_scale.py's koi are (``BENCH_WORKERS_CORES=0,1`` lets it use both). Holding koi is
bound by descriptors, not CPU (~0.15 of a core per 19,800 koi), so both runs fit core 0 when the machine is
quiet. Koi start over a spread of 60 s per worker (the same start-up rate per worker);
once every websocket is connected and a settle has passed, the School's own ``/metrics`` (one endpoint,
summed over its workers) is read at the start and the end of a measurement window: schedule lag
p50/p99 from ``koi_pond_school_schedule_lag_seconds`` over the window, calls/s, websockets held.

``BENCH_QUICK=1``: 300 koi per worker, 3 s spread per worker, 10 s window. Otherwise N = 19,800 (or
what the descriptor limit leaves; ``BENCH_WORKERS_KOI`` overrides), 60 s spread per worker, 40 s
settle once every koi is connected, 60 s window (``BENCH_WORKERS_SPREAD``, ``BENCH_WORKERS_SETTLE``,
``BENCH_WORKERS_WINDOW``); about 8 minutes in all on a quiet machine.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from bench_scale import LAG_TARGET_SECONDS, quantile, share_within
from common import (
    CLIENT_CORE,
    SERVER_CORE,
    Target,
    bundled_target,
    children,
    core_busy_seconds,
    cpu_seconds,
    note,
    print_table,
    quick,
    raise_open_files,
    verdict,
)
from harness import run_bench
from prometheus_client.parser import text_string_to_metric_families

from koipond import metric_names as mn
from koipond.tokens.models import SHARD_SIZE, ShardDocument, shard_key
from local_pond.pond import LocalPond, PondConfig
from school_container.descriptors import koi_room
from school_container.main import SPLIT_SLACK

WANTED_KOI_PER_WORKER = 19_800
HTTP_POOL = 64  # per worker, as bench_scale.py: ~210 calls/s per 20,000 koi
HELD_RATIO_GOAL = 1.9
CAPACITY_HEADROOM = 100  # capacity asked beyond the koi; the School still caps it at its descriptors' room
BUCKET = "koipond-tokens"
WORKSPACES = ("bench-a", "bench-b")  # one per target: a target's tokens are valid on that target only


@dataclass(frozen=True)
class Plan:
    koi_per_worker: int
    spread: float
    settle: float
    window: float


@dataclass
class Reading:
    """The School's /metrics and CPU at one moment."""

    at: float
    lag: dict[float, float]
    calls: float
    connected: float
    school_cpu: float
    core_busy: float

    @classmethod
    def take(cls, metrics_url: str, pids: list[int]) -> Reading:
        lag: dict[float, float] = {}
        calls = connected = 0.0
        text = httpx.get(metrics_url, timeout=120).text  # a busy School answers late, never wrongly
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == f"{mn.SCHOOL_SCHEDULE_LAG_SECONDS}_bucket":
                    le = float(s.labels[mn.BUCKET_BOUND_LABEL])
                    lag[le] = lag.get(le, 0.0) + s.value
                elif s.name == mn.SCHOOL_WEB_API_CALLS + "_total":
                    calls += s.value
                elif s.name == mn.SCHOOL_WEBSOCKET_CONNECTIONS:
                    connected += s.value
        busy = sum(_cpu(pid) for pid in pids)
        cores = sum(core_busy_seconds(core) for core in school_cores())
        return cls(time.monotonic(), dict(sorted(lag.items())), calls, connected, busy, cores)


def _cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


def school_cores() -> set[int]:
    return {int(c) for c in os.environ.get("BENCH_WORKERS_CORES", str(CLIENT_CORE)).split(",")}


@contextlib.contextmanager
def pinned_to(cores: set[int]) -> Iterator[None]:
    """Processes started inside inherit ``cores`` as their only CPUs."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def started_target(stack: contextlib.ExitStack, attempts: int = 3) -> Target:
    """A bundled target; again on another port if the one picked was taken meanwhile (koi open many)."""
    for attempt in range(attempts):
        try:
            return stack.enter_context(bundled_target())
        except RuntimeError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def store_tokens(pond: LocalPond, target: Target, workspace: str, count: int) -> None:
    """Users ``[0, count)`` of ``workspace``, minted by ``target``, as the token pipeline's shards."""
    s3 = pond.aws_client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=BUCKET)
    tokens = target.mint(workspace, count)
    for shard in range(0, (count + SHARD_SIZE - 1) // SHARD_SIZE):
        users = range(shard * SHARD_SIZE, min(count, (shard + 1) * SHARD_SIZE))
        document = ShardDocument(
            workspace=workspace,
            shard=shard,
            tokens={i: tokens[i] for i in users},
            minted_at=datetime.now(UTC),
            job_id="bench-workers",
        )
        s3.put_object(Bucket=BUCKET, Key=shard_key(workspace, shard), Body=document.model_dump_json().encode())


def run_school(pond: LocalPond, targets: list[Target], workers: int, plan: Plan) -> dict[str, float]:
    """One School of ``workers`` holding ``workers x koi_per_worker`` koi over two tests; its figures."""
    school_id = f"bench-{workers}w-{secrets.token_hex(2)}"
    with pond.client() as admin:
        token = admin.create_key(school_id, "school", school_id=school_id).token
    total = workers * plan.koi_per_worker
    pond.config.school_workers = workers
    # Room above the koi: the Keeper leaves a School filled to its very capacity short of koi (see the README).
    pond.config.school_capacity = total + CAPACITY_HEADROOM
    # Each worker starts its koi over the spread: the spread grows with the workers, so the School's
    # start-up rate (websocket handshakes, channel joins) is the same in both runs.
    spread = plan.spread * workers
    pond.config.koi_startup_spread_seconds = spread
    env = {"KOIPOND_MAX_CONNECTIONS": str(HTTP_POOL), "KOIPOND_DRAIN_SECONDS": "20"}
    with pinned_to(school_cores()):
        school = pond.start_school(school_id, token, env)
    assert school.popen is not None
    url = pond.school_metrics_urls[-1]
    tests = []
    with pond.client() as admin:
        for target, workspace in zip(targets, WORKSPACES, strict=True):
            spec = {"name": f"bench {workers}w", "target": target.url, "behavior": "average_user"}
            tests.append(admin.start_test(**spec, workspace=workspace, koi=total // len(targets)).id)
    started = time.monotonic()
    try:
        figures = _measure(
            school.popen.pid, url, targets, total, Plan(plan.koi_per_worker, spread, plan.settle, plan.window), started
        )
        with pond.client() as admin:
            (listed,) = [s for s in admin.list_schools() if s.id == school_id]
        return {**figures, "capacity": listed.capacity, "assigned": listed.assigned_koi}
    finally:
        with pond.client() as admin:
            for test_id in tests:
                admin.stop_test(test_id, "bench run over")
        school.stop(timeout=60)  # SIGTERM: the School drains every worker's koi
        for target in targets:
            target.wait_for_websockets(0, 60, at_least=False)
        if os.environ.get("BENCH_WORKERS_LOG"):
            print(school.log_tail(60), file=sys.stderr)
        pond.schools.remove(school)
        pond.school_metrics_urls.remove(url)


def _measure(pid: int, url: str, targets: list[Target], total: int, plan: Plan, started: float) -> dict[str, float]:
    per_target = total // len(targets)
    for target in targets:
        left = plan.spread + plan.settle + 120 - (time.monotonic() - started)
        seen = target.wait_for_websockets(per_target, max(1.0, left))
        print(f"  {target.url}: {seen:,} websockets after {time.monotonic() - started:.0f}s", file=sys.stderr)
    # Settle after the last koi connected too: the window measures holding them, not the start-up.
    settled = max(started + plan.spread, time.monotonic()) + plan.settle
    while (remaining := settled - time.monotonic()) > 0:
        time.sleep(min(15.0, remaining))
    pids = [pid, *children(pid)]
    workers = httpx.get(url.replace("/metrics", "/healthz"), timeout=120).json().get("workers", [])
    first = Reading.take(url, pids)
    time.sleep(plan.window)
    last = Reading.take(url, pids)
    seconds = last.at - first.at
    school_cpu = (last.school_cpu - first.school_cpu) / seconds
    return {
        "koi": total,
        "held": min(first.connected, last.connected),
        "per_worker_min": min((w["koi"] for w in workers), default=total),
        "per_worker_max": max((w["koi"] for w in workers), default=total),
        "lag_p50": quantile(0.50, first.lag, last.lag)[0],
        "lag_p99": quantile(0.99, first.lag, last.lag)[0],
        "within_50ms": share_within(LAG_TARGET_SECONDS, first.lag, last.lag),
        "calls_per_second": (last.calls - first.calls) / seconds,
        "school_cpu": school_cpu,
        "others_cpu": max(0.0, (last.core_busy - first.core_busy) / seconds - school_cpu),
        "target_connections": float(sum(t.websocket_connections() for t in targets)),
    }


def plan_of(hard_limit: int) -> Plan:
    if quick():
        return Plan(300, 3.0, 2.0, 10.0)
    # Each worker is one process under the limit: its room, less the slack kept for an uneven split.
    room = koi_room(hard_limit, HTTP_POOL) - SPLIT_SLACK
    n = min(int(os.environ.get("BENCH_WORKERS_KOI", str(WANTED_KOI_PER_WORKER))), room)
    spread = float(os.environ.get("BENCH_WORKERS_SPREAD", "60"))
    settle = float(os.environ.get("BENCH_WORKERS_SETTLE", "40"))
    return Plan(n, spread, settle, float(os.environ.get("BENCH_WORKERS_WINDOW", "60")))


def main() -> int:
    hard = raise_open_files()
    plan = plan_of(hard)
    print(f"workers: one School of 1 worker, then of 2, {plan.koi_per_worker:,} koi of average_user per worker")
    print(f"         spread {plan.spread:.0f}s per worker, settle {plan.settle:.0f}s, window {plan.window:.0f}s")
    print(f"         School on core(s) {sorted(school_cores())}; targets, Keeper and embedded AWS on {SERVER_CORE}")
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as state, contextlib.ExitStack() as stack:
        with pinned_to({SERVER_CORE}):
            pond = stack.enter_context(LocalPond(PondConfig(state_dir=Path(state), poll_interval_seconds=1.0)))
        targets = [started_target(stack) for _ in WORKSPACES]
        for target, workspace in zip(targets, WORKSPACES, strict=True):
            store_tokens(pond, target, workspace, plan.koi_per_worker)
        results = {}
        for workers in (1, 2):
            print(f"  run: {workers} worker(s)", file=sys.stderr)
            try:
                results[workers] = run_school(pond, targets, workers, plan)
            except (RuntimeError, OSError, httpx.HTTPError) as exc:
                print(f"bench: the School of {workers} worker(s) failed: {exc}", file=sys.stderr)
                return 1
    report(results, plan, hard)
    return 0


def report(results: dict[int, dict[str, float]], plan: Plan, hard: int) -> None:
    one, two = results[1], results[2]

    def row(name: str, key: str, fmt: str) -> tuple[str, str, str]:
        return (name, format(one[key], fmt), format(two[key], fmt))

    rows: list[Any] = [
        row("koi started (two tests)", "koi", ",.0f"),
        row("capacity the School advertised", "capacity", ",.0f"),
        row("koi the Keeper assigned it", "assigned", ",.0f"),
        row("websockets held (School, window min)", "held", ",.0f"),
        (
            "koi per worker (min / max)",
            *(f"{r['per_worker_min']:,.0f} / {r['per_worker_max']:,.0f}" for r in (one, two)),
        ),
        ("schedule lag p50 / p99", *(f"{r['lag_p50'] * 1000:.1f} / {r['lag_p99'] * 1000:.1f} ms" for r in (one, two))),
        row("actions started within 50 ms", "within_50ms", ".2%"),
        row("Web API calls/s", "calls_per_second", ",.1f"),
        row("School CPU (all its processes), cores", "school_cpu", ".2f"),
        row("School's cores taken by other processes, cores", "others_cpu", ".2f"),
        row("websockets at the targets", "target_connections", ",.0f"),
    ]
    print_table(
        "one School: 1 worker vs 2 workers, average_user, two bundled targets",
        ("figure", "1 worker", "2 workers"),
        rows,
    )
    ratio = two["held"] / one["held"] if one["held"] else float("nan")
    lag_ok = max(one["lag_p99"], two["lag_p99"]) <= LAG_TARGET_SECONDS
    print(f"\n  koi held, 2 workers / 1 worker: {ratio:.2f}x")
    verdict(
        ratio >= HELD_RATIO_GOAL and lag_ok,
        f"2 workers hold >= {HELD_RATIO_GOAL}x the koi of 1, both at schedule lag p99 <= 50 ms",
        f"{ratio:.2f}x; p99 {one['lag_p99'] * 1000:.1f} ms vs {two['lag_p99'] * 1000:.1f} ms",
    )
    if quick():
        note("quick run: a few hundred koi; the descriptor-bound case (~19,800 koi per process) is the full run's.")
    else:
        note(
            f"each process may hold {hard:,} descriptors (hard RLIMIT_NOFILE), so one worker's room is "
            f"{plan.koi_per_worker:,} koi beside its {HTTP_POOL} HTTP connections; the second worker is a second "
            "process, with its own descriptors."
        )


def worker_main(argv: list[str]) -> None:
    sys.exit("bench_workers.py has no pinned worker of its own: it runs `koipond school` processes")


if __name__ == "__main__":
    run_bench(__doc__, main, worker_main)
