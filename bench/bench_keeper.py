"""What a School's poll costs the Keeper, and whether the Keeper hands out koi well under load.

Part ``inprocess``: the Keeper in this process over the embedded AWS (moto), a fixed clock moved by
hand, and a DynamoDB client that bills every call the way DynamoDB would (``keeper_sim.py``). Cells of
10, 100 and 1,000 Schools x 1, 100 and 1,000 running tests share 5,000,000 koi. After a warm-up (every
School polls, round after round, until the allocation stops changing and every koi is held) one round
is measured: every School polls once, spread over one poll interval, and where the Keeper has an
allocator it runs a pass every allocator period. The design's scale rule is that a poll's units do not
grow with the pond, and that no item does either.

Part ``pond``: a local pond over HTTP (embedded AWS and two Keeper processes on loopback) and N
simulated Schools that only poll (asyncio, one coroutine each, alternating between the two Keepers
every poll interval with jitter, reporting what they were assigned). Phases: settle until every koi is
held; scale one test x2; shed another 50 %; kill 10 % of the Schools; emergency stop. Poll latency,
errors, timeouts, the time to move the dead Schools' koi and the time until every live School was told
to stop are printed against the design's goals, and the final allocation (from the Schools' own last
answers) is checked disjoint and complete. When the dead Schools' koi moved is read afterwards from the
tests' history, so watching adds no load. Both parts run moto with lean transactions (``lean_moto``):
stock moto copies the whole table for every action of a transaction, which would be measured instead.
A Keeper with a running-test cap (49 before the allocator) prints cells above it as ``n/a (cap)`` and
runs the pond with that many tests.

``--quick`` (or ``BENCH_QUICK=1``): 10 and 100 Schools x 1 and 100 tests in process; 20 Schools, 5
tests, 20,000 koi on the pond with shorter phases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from common import cpu_seconds, note, print_table, quick, rss_bytes, verdict
from keeper_sim import TOTAL_KOI, Cell, CellResult, Sample, run_cell, running_cap

ITEM_GOAL_BYTES = 64 * 1024
FULL_CELLS = [Cell(s, t) for s in (10, 100, 1000) for t in (1, 100, 1000)]
QUICK_CELLS = [Cell(s, t) for s in (10, 100) for t in (1, 100)]


# --- part 1: in process ---------------------------------------------------------------------------------


def inprocess_part(cells: Sequence[Cell], at_cap: Sequence[int]) -> list[CellResult]:
    """Run every cell, then (for a Keeper whose running-test cap kept cells out) ``at_cap`` Schools x the cap.

    The extra rows show how today's costs grow with tests up to where it can go; the verdicts judge
    ``cells`` only.
    """
    results = [_run(cell) for cell in cells]
    cap = running_cap()
    if cap is not None and any(r.skipped == "n/a (cap)" for r in results):
        results += [_run(Cell(schools, cap)) for schools in at_cap]
    report_cells(results, len(cells))
    return results


def _run(cell: Cell) -> CellResult:
    print(f"  cell {cell.schools:,} Schools x {cell.tests:,} tests ...", end="", flush=True)
    try:
        result = run_cell(cell)
    except Exception as exc:  # one broken cell is a row saying so, not a lost run
        result = CellResult(cell, "?", skipped=f"failed: {type(exc).__name__}: {str(exc)[:80]}")
    print(f" {result.skipped or f'{result.seconds:.0f}s'}", flush=True)
    return result


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _p99(values: Sequence[float]) -> float | None:
    return sorted(values)[min(len(values) - 1, math.ceil(0.99 * len(values)) - 1)] if values else None


def _ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


def report_cells(results: Sequence[CellResult], measured: int) -> None:
    design = next((r.design for r in results if not r.skipped), "?")
    poll_rows, pass_rows = [], []
    for n, r in enumerate(results):
        label = f"{r.cell.schools:,} x {r.cell.tests:,}" + ("" if n < measured else " (cap)")
        if r.skipped:
            poll_rows.append((label, r.skipped, *[None] * 10))
            pass_rows.append((label, r.skipped, *[None] * 8))
            continue
        polls = r.polls
        rcu, wcu, seconds = [p.rcu for p in polls], [p.wcu for p in polls], [p.seconds for p in polls]
        index, ms = _mean([p.index_wcu for p in polls]), _ms(_mean(seconds))
        changed = [p.rcu for p in r.changed_polls]
        poll_rows.append(
            (
                label, _mean(rcu), max(rcu), _mean(wcu), max(wcu), index,
                _mean(changed), max(changed, default=None), r.tests_per_school, ms, _ms(_p99(seconds)),
            )
        )  # fmt: skip
        pass_rows.append(_pass_row(label, r))
    units = ("RCU mean", "RCU max", "WCU mean", "WCU max", "index WCU")
    print_table(
        f"per poll, one round in which every School polls once ({design}; units as DynamoDB bills them)",
        ("Schools x tests", *units, "new-asgmt RCU", "max", "tests/School", "ms mean", "ms p99"),
        poll_rows,
    )
    note(
        "new-asgmt RCU: polls of the warm-up answered with a new assignment (a School reads its assignment item"
        " only then); the measured round is steady, so its polls are answered 'unchanged'."
    )
    headers = ("Schools x tests", "passes", "pass ms", "max ms", "RCU/pass", "WCU+idx/pass", "largest item", "which")
    print_table("allocator passes in the measured round, and items", (*headers, "held", "warm-up"), pass_rows)
    _cell_verdicts(results[:measured], results)


def _pass_row(label: str, r: CellResult) -> tuple[object, ...]:
    passes: list[Sample] = r.passes
    held = f"{r.assigned / r.demanded:.0%}" if r.demanded else None
    largest = f"{r.run.largest_written / 1024:,.1f} KB"
    if r.run.refused:
        largest += f" ({len(r.run.refused)} refused, {r.run.largest_attempted / 1024:,.0f} KB)"
    return (
        label,
        len(passes) if passes else None,
        _ms(_mean([p.seconds for p in passes])),
        _ms(max((p.seconds for p in passes), default=None)),
        _mean([p.rcu for p in passes]),
        _mean([p.wcu + p.index_wcu for p in passes]),
        largest,
        r.run.largest_key,
        held,
        f"{r.warmup_rounds} rounds" + ("" if r.settled else ", unsettled"),
    )


def _poll_shape(polls: Sequence[Sample]) -> tuple[float, float, float, float]:
    """Mean and max RCU, mean and max WCU of the polls (means to the hundredth)."""
    rcu, wcu = [p.rcu for p in polls], [p.wcu for p in polls]
    return round(statistics.fmean(rcu), 2), max(rcu), round(statistics.fmean(wcu), 2), max(wcu)


def _cell_verdicts(results: Sequence[CellResult], every: Sequence[CellResult]) -> None:
    """Poll units and koi held are judged on the cells; item size on every row printed."""
    ran = [r for r in results if not r.skipped]
    shapes = {_poll_shape(r.polls) for r in ran}
    span = ", ".join(f"RCU {a:g} (max {b:g}) WCU {c:g} (max {d:g})" for a, b, c, d in sorted(shapes))
    verdict(
        len(ran) == len(results) and len(shapes) == 1,
        f"per-poll units equal in all {len(results)} cells",
        f"{len(ran)} of {len(results)} cells ran; {span or 'none measured'}",
    )
    largest = max((max(r.run.largest_written, r.run.largest_attempted) for r in every if not r.skipped), default=0)
    verdict(
        largest <= ITEM_GOAL_BYTES,
        "no item over 64 KB",
        f"largest item written or attempted {largest / 1024:,.1f} KB",
    )
    short = [f"{r.cell.schools} x {r.cell.tests}" for r in ran if r.assigned != r.demanded]
    verdict(not short, "every koi held after the warm-up", "all cells" if not short else "short in " + ", ".join(short))


# --- part 2: a local pond over HTTP ---------------------------------------------------------------------


@dataclass(frozen=True)
class PondPlan:
    schools: int
    tests: int
    koi: int
    interval: float = 5.0
    settle_s: float = 90.0
    change_s: float = 30.0
    kill_s: float = 60.0
    stop_s: float = 20.0
    kill_share: float = 0.10
    timeout_s: float = 5.0  # a poll slower than one interval is a miss

    @property
    def capacity(self) -> int:
        """A quarter above an even share, in whole blocks: room for the scale-up after a tenth dies."""
        return math.ceil(1.25 * self.koi / self.schools / 100) * 100


FULL_POND = PondPlan(schools=200, tests=100, koi=1_000_000)
QUICK_POND = PondPlan(schools=20, tests=5, koi=20_000, settle_s=25.0, change_s=15.0, kill_s=35.0, stop_s=12.0)


@dataclass
class SimSchool:
    id: str
    token: str
    capacity: int
    running: dict[str, int] = field(default_factory=dict)
    answer: dict[str, Any] | None = None
    assignments: list[dict[str, Any]] = field(default_factory=list)  # what it runs, from the last full answer
    known: int | None = None  # that answer's allocation_version, named in the next poll
    last_sent: float = 0.0  # when its latest poll left (monotonic)
    last_sent_wall: float = 0.0  # the same, as wall-clock time (the Keeper's history is in it)
    stop_seen: float | None = None
    dead: bool = False
    task: asyncio.Task[None] | None = None


@dataclass
class PollStats:
    phase: str = "start"
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    timeouts: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)  # a few error texts

    def ok(self, seconds: float) -> None:
        self.latencies.setdefault(self.phase, []).append(seconds)

    def error(self, text: str, timeout: bool = False) -> None:
        counts = self.timeouts if timeout else self.errors
        counts[self.phase] = counts.get(self.phase, 0) + 1
        if len(self.samples) < 5:
            self.samples.append(f"{self.phase}: {text[:160]}")


async def school_loop(school: SimSchool, clients: Sequence[Any], plan: PondPlan, stats: PollStats, rng: Any) -> None:
    """Poll like a School: every interval with jitter, alternating Keepers, reporting what was assigned."""
    import httpx

    await asyncio.sleep(rng.uniform(0, plan.interval))
    headers = {"authorization": f"Bearer {school.token}"}
    for client in itertools.cycle(clients):
        began = time.monotonic()
        school.last_sent, school.last_sent_wall = began, time.time()
        body = {"capacity": school.capacity, "running": school.running, "known_version": school.known}
        try:
            response = await client.post(f"/v1/schools/{school.id}/poll", json=body, headers=headers)
        except httpx.TimeoutException as exc:
            stats.error(f"timeout {type(exc).__name__}", timeout=True)
        except httpx.HTTPError as exc:
            stats.error(f"{type(exc).__name__}: {exc}")
        else:
            if response.status_code == 200:
                stats.ok(time.monotonic() - began)
                _take(school, response.json())
            else:
                stats.error(f"HTTP {response.status_code}: {response.text}")
        await asyncio.sleep(max(0.0, plan.interval * rng.uniform(0.9, 1.1) - (time.monotonic() - began)))


def _take(school: SimSchool, answer: dict[str, Any]) -> None:
    """Run what the answer says, as a School does: null assignments mean "unchanged", a stop means nothing."""
    school.answer = answer
    if answer["stop_all"]:
        school.assignments, school.known = [], None
        if school.stop_seen is None:
            school.stop_seen = time.monotonic()
    elif answer["assignments"] is not None:
        school.assignments, school.known = answer["assignments"], answer["allocation_version"]
    school.running = {a["test_id"]: a["koi"] for a in school.assignments}


@dataclass(frozen=True)
class Coverage:
    held: int
    wanted: int
    overlap: int  # koi indexes held by two live Schools at once
    beyond: int  # koi held past a test's active koi

    @property
    def complete(self) -> bool:
        return self.held == self.wanted and not self.overlap and not self.beyond

    def __str__(self) -> str:
        return f"{self.held:,} of {self.wanted:,} koi held, {self.overlap:,} twice, {self.beyond:,} past the demand"


def coverage(schools: Sequence[SimSchool], wanted: dict[str, int]) -> Coverage:
    """The allocation as the live Schools' last answers tell it: held koi, overlaps, koi past the demand."""
    spans: dict[str, list[tuple[int, int]]] = {test_id: [] for test_id in wanted}
    for school in schools:
        if school.dead or school.answer is None:
            continue
        for a in school.assignments:
            spans.setdefault(a["test_id"], []).extend((r["start"], r["end"]) for r in a["ranges"])
    held = overlap = beyond = 0
    for test_id, ranges in spans.items():
        active = wanted.get(test_id, 0)
        union = _union(ranges)
        overlap += sum(end - start for start, end in ranges) - sum(end - start for start, end in union)
        held += sum(max(0, min(end, active) - start) for start, end in union)
        beyond += sum(end - max(start, active) for start, end in union if end > active)
    return Coverage(held, sum(wanted.values()), overlap, beyond)


def _union(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


Phase = tuple[float | None, Coverage | None]  # seconds to converge (None: not within the phase), what was held


@dataclass
class PondResults:
    settle: Phase = (None, None)
    scale: Phase = (None, None)
    shed: Phase = (None, None)
    killed: int = 0
    moved_keeper: list[float | None] = field(default_factory=list)  # per dead School: last poll -> koi taken
    moved_schools: float | None = None  # the last dead School's last poll -> the live Schools' answers hold all
    final: Coverage | None = None
    told: int = 0
    live: int = 0
    stop_last: float | None = None  # from the stop until the last live School was told
    aborted: str = ""  # an admin call that failed, ending the phases early
    seconds: float = 0.0  # the phases' wall time
    usage: list[tuple[str, float, float | None]] = field(default_factory=list)  # process, CPU seconds, RSS MiB


class PondRun:
    """The phases, driven from one event loop; every wait is bounded by the plan."""

    def __init__(self, plan: PondPlan, urls: Sequence[str], admin_token: str, schools: list[SimSchool]) -> None:
        self.plan, self.urls, self.admin_token, self.schools = plan, urls, admin_token, schools
        self.stats = PollStats()
        self.results = PondResults()
        self.test_ids: list[str] = []
        self.admin_client: Any = None

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.admin_client.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    async def wanted(self) -> dict[str, int]:
        tests = (await self.admin("GET", "/v1/tests"))["tests"]
        return {t["id"]: t["active_koi"] for t in tests if t["status"] == "running"}

    async def until(self, seconds: float, done: Any) -> float | None:
        """Seconds until ``done()`` holds (checked every 0.25 s), or None after ``seconds``."""
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            if await done():
                return time.monotonic() - began
            await asyncio.sleep(0.25)
        return None

    async def converged(self, seconds: float) -> Phase:
        wanted = await self.wanted()

        async def complete() -> bool:
            return coverage(self.schools, wanted).complete

        took = await self.until(seconds, complete)
        return took, coverage(self.schools, wanted)

    async def run(self, test_ids: list[str]) -> PondResults:
        import httpx

        self.test_ids = test_ids
        rng = random.Random(7)
        limits = httpx.Limits(max_connections=self.plan.schools + 8, max_keepalive_connections=self.plan.schools + 8)
        timeout = httpx.Timeout(self.plan.timeout_s)
        clients = [httpx.AsyncClient(base_url=u, limits=limits, timeout=timeout) for u in self.urls]
        headers = {"authorization": f"Bearer {self.admin_token}"}
        self.admin_client = httpx.AsyncClient(base_url=self.urls[0], headers=headers, timeout=30)
        for n, school in enumerate(self.schools):
            order = clients if n % 2 == 0 else clients[::-1]
            school.task = asyncio.create_task(school_loop(school, order, self.plan, self.stats, rng))
        try:
            await self.phases()
        finally:
            for school in self.schools:
                if school.task is not None:
                    school.task.cancel()
            await asyncio.gather(*(s.task for s in self.schools if s.task), return_exceptions=True)
            for client in [*clients, self.admin_client]:
                await client.aclose()
        return self.results

    async def phases(self) -> None:
        """Settle, scale, shed, kill, check; then the emergency stop, even when an admin call failed before."""
        import httpx

        plan, r = self.plan, self.results
        try:
            r.settle = await self._phase("settle", plan.settle_s, None)
            r.scale = await self._phase("scale", plan.change_s, (self.test_ids[0], "koi"))
            r.shed = await self._phase("shed", plan.change_s, (self.test_ids[-1], "shed_percent"))
            await self._kill()
            self.stats.phase = "quiet"
            await asyncio.sleep(plan.interval * 1.2)  # every live School polls again after the last move
            r.final = coverage(self.schools, await self.wanted())
        except httpx.HTTPError as exc:
            r.aborted = f"{self.stats.phase}: an admin call failed: {type(exc).__name__} {exc}"
            print(f"  {r.aborted}", flush=True)
        try:
            await self._emergency_stop()
        except httpx.HTTPError as exc:
            r.aborted += f"; stop: {type(exc).__name__} {exc}"

    async def _phase(self, name: str, seconds: float, change: tuple[str, str] | None) -> Phase:
        self.stats.phase = name
        if change is not None:
            test_id, what = change
            koi = (await self.admin("GET", f"/v1/tests/{test_id}"))["koi"]
            await self.admin("PATCH", f"/v1/tests/{test_id}", {"koi": 2 * koi} if what == "koi" else {what: 50})
        took, cov = await self.converged(seconds)
        print(f"  {name}: {_seconds(took)} ({cov})", flush=True)
        return took, cov

    async def _kill(self) -> None:
        """Stop a tenth of the Schools; time how long their koi take to move, from each one's last poll.

        The Keeper's side is read afterwards from the tests' ``test_reallocated`` history (its time and
        the Schools it took koi from), so that watching costs the Keeper nothing while it happens.
        """
        self.stats.phase = "kill"
        r = self.results
        doomed = self.schools[:: round(1 / self.plan.kill_share)]
        killed_at = time.monotonic()
        for school in doomed:
            school.dead = True
            if school.task is not None:
                school.task.cancel()
        r.killed = len(doomed)
        heard = killed_at - max(s.last_sent for s in doomed)  # the last of them was last heard this long ago
        wanted = await self.wanted()

        async def schools_moved() -> bool:
            return coverage(self.schools, wanted).complete

        schools = await self.until(self.plan.kill_s, schools_moved)
        r.moved_schools = None if schools is None else schools + heard
        r.moved_keeper = await self._moved_by_keeper(doomed)
        found = [delay for delay in r.moved_keeper if delay is not None]
        print(
            f"  kill {len(doomed)}: the Keeper took their koi {_spread(found)} after each one's last poll "
            f"({len(found)} of {len(doomed)} found in the history); the live Schools' answers held every koi "
            f"{_seconds(r.moved_schools)} after the last of them",
            flush=True,
        )

    async def _moved_by_keeper(self, doomed: Sequence[SimSchool]) -> list[float | None]:
        """Per dead School: from its last poll to the first reallocation event that took koi from it."""
        dead = {s.id: s for s in doomed}
        held = sorted({a["test_id"] for s in doomed for a in s.assignments})
        since = min(s.last_sent_wall for s in doomed)
        taken: dict[str, float] = {}
        for test_id in held:
            page = await self.admin("GET", f"/v1/tests/{test_id}/events?order=newest&limit=100")
            for event in page["events"]:
                at = datetime.fromisoformat(event["at"]).timestamp()
                if event["kind"] != "test_reallocated" or at < since:
                    continue
                for school_id in set(event["details"].get("lost", [])) & dead.keys():
                    # Koi it gave up while it still polled (the shed before the kill) are not its death.
                    if at >= dead[school_id].last_sent_wall:
                        taken[school_id] = min(taken.get(school_id, at), at)
        return [taken[s.id] - s.last_sent_wall if s.id in taken else None for s in doomed]

    async def _emergency_stop(self) -> None:
        self.stats.phase = "stop"
        live = [s for s in self.schools if not s.dead]
        for school in live:
            school.stop_seen = None
        r = self.results
        r.live = len(live)
        began = time.monotonic()
        await self.admin("POST", "/v1/emergency-stop", {"reason": "bench_keeper: stop"})

        async def all_told() -> bool:
            return all(s.stop_seen is not None for s in live)

        await self.until(self.plan.stop_s, all_told)
        r.told = sum(s.stop_seen is not None for s in live)
        if r.told == r.live:
            r.stop_last = max(s.stop_seen - began for s in live if s.stop_seen is not None)
        print(f"  stop: {r.told} of {r.live} live Schools told, the last after {_seconds(r.stop_last)}", flush=True)


def pond_part(plan: PondPlan) -> PondResults:
    """Start a pond with two Keepers, start the tests, run the phases; print and judge them."""
    from local_pond.pond import LocalPond, PondConfig
    from local_pond.processes import PondProcess, free_port

    cap = running_cap()
    tests = min(plan.tests, cap) if cap is not None else plan.tests
    print(
        f"\npond: {plan.schools} simulated Schools (capacity {plan.capacity:,}), {tests} running tests"
        + (f" (of {plan.tests}: the running cap is {cap})" if tests < plan.tests else "")
        + f", {plan.koi:,} koi, poll interval {plan.interval:g}s, two Keepers",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-keeper-") as state:
        config = PondConfig(state_dir=Path(state), poll_interval_seconds=plan.interval)
        pond = LocalPond(config)
        # The embedded AWS with moto's transactions made lean (see keeper_sim.lean_moto): otherwise
        # every transaction deep-copies the whole table per action and the server measures that.
        pond.aws.program = [sys.executable, str(Path(__file__).with_name("keeper_sim.py")), "--lean-aws"]
        with pond:
            port = free_port()
            second = PondProcess(
                "keeper-2",
                ["keeper", "--host", "127.0.0.1", "--port", str(port)],
                pond.keeper.env,
                pond.logs / "keeper-2.log",
                f"http://127.0.0.1:{port}/healthz",
            )
            second.start(timeout=60)
            try:
                schools, test_ids = _set_up(pond, plan, tests)
                pids = {"embedded AWS": pond.aws.popen, "Keeper 1": pond.keeper.popen, "Keeper 2": second.popen}
                usage = ProcessUsage({name: popen.pid for name, popen in pids.items() if popen is not None})
                run = PondRun(plan, [pond.keeper_url, f"http://127.0.0.1:{port}"], config.admin_token, schools)
                results = asyncio.run(run.run(test_ids))
                results.usage, results.seconds = usage.rows(), time.monotonic() - usage.began
            finally:
                second.stop()
    report_pond(plan, tests, run.stats, results)
    return results


class ProcessUsage:
    """CPU time of the pond's processes and of this one since it was made, and of everything else running."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = {**pids, "simulated Schools (this process)": os.getpid()}
        self.cpu = {name: _tree_cpu(pid) for name, pid in self.pids.items()}
        self.machine = _machine_busy_seconds()
        self.began = time.monotonic()

    def rows(self) -> list[tuple[str, float, float | None]]:
        """A Keeper's row counts its worker processes too (the local Keeper serves from a pool of them)."""
        rows: list[tuple[str, float, float | None]] = []
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):  # a process that is gone has no row
                rss = sum(rss_bytes(p) for p in _tree(pid)) / 2**20
                rows.append((name, _tree_cpu(pid) - self.cpu[name], rss))
        others = _machine_busy_seconds() - self.machine - sum(cpu for _, cpu, _ in rows)
        rows.append(("everything else on the machine", max(0.0, others), None))
        return rows


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc/<pid>/task/<tid>/children."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
    return found


def _tree_cpu(pid: int) -> float:
    total = 0.0
    for member in _tree(pid):
        with contextlib.suppress(OSError):  # ended meanwhile
            total += cpu_seconds(member)
    return total


def _machine_busy_seconds() -> float:
    """CPU time every core spent running anything, from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:8]
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields)
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _set_up(pond: Any, plan: PondPlan, tests: int) -> tuple[list[SimSchool], list[str]]:
    with pond.client() as admin:
        schools = [
            SimSchool(sid, admin.create_key(sid, "school", school_id=sid).token, plan.capacity)
            for sid in (f"sim-{n:03d}" for n in range(plan.schools))
        ]
        per_test = [plan.koi // tests + (1 if n < plan.koi % tests else 0) for n in range(tests)]
        test_ids = [
            admin.start_test(
                name=f"bench-{n:03d}",
                target="http://127.0.0.1:8800",
                behavior="average_user",
                workspace="bench",
                koi=koi,
            ).id
            for n, koi in enumerate(per_test)
        ]
    return schools, test_ids


def _moved(r: PondResults) -> str:
    found = [d for d in r.moved_keeper if d is not None]
    missing = len(r.moved_keeper) - len(found)
    return _spread(found) + (f", {missing} not found in the history" if missing else "")


def _latency(seconds: Sequence[float]) -> tuple[int, float | None, float | None, float | None]:
    """Count, p50, p99 and max in milliseconds."""
    median = statistics.median(seconds) if seconds else None
    return len(seconds), _ms(median), _ms(_p99(seconds)), _ms(max(seconds, default=None))


def _seconds(value: float | None) -> str:
    return "not within the phase" if value is None else f"{value:.1f} s"


def _spread(delays: Sequence[float]) -> str:
    """``a-b s (median c s)`` of some delays."""
    if not delays:
        return _seconds(None)
    return f"{min(delays):.1f}-{max(delays):.1f} s (median {statistics.median(delays):.1f} s)"


def _worst(delays: Sequence[float | None]) -> float | None:
    """The longest delay, or None when any is unknown."""
    return None if not delays or None in delays else max(d for d in delays if d is not None)


def report_pond(plan: PondPlan, tests: int, stats: PollStats, r: PondResults) -> None:
    rows = [
        (phase, *_latency(stats.latencies.get(phase, [])), stats.errors.get(phase, 0), stats.timeouts.get(phase, 0))
        for phase in ("settle", "scale", "shed", "kill", "quiet", "stop")
    ]
    everything = [x for lat in stats.latencies.values() for x in lat]
    rows.append(("all", *_latency(everything), sum(stats.errors.values()), sum(stats.timeouts.values())))
    print_table(
        "polls over HTTP through two Keepers, per phase",
        ("phase", "polls", "p50 ms", "p99 ms", "max ms", "errors", "timeouts"),
        rows,
    )
    for sample in stats.samples:
        print(f"  e.g. {sample}")
    phase_rows = [
        ("settle: every koi held", _seconds(r.settle[0])),
        ("scale one test x2: every koi held again", _seconds(r.scale[0])),
        ("shed another 50 %: every koi held again", _seconds(r.shed[0])),
        (f"kill {r.killed}: the Keeper took each one's koi, from its last poll", _moved(r)),
        ("kill: the live Schools' answers hold every koi, from the last one's last poll", _seconds(r.moved_schools)),
        (f"emergency stop: every live School told ({r.told} of {r.live})", _seconds(r.stop_last)),
        ("final allocation, from the live Schools' last answers", str(r.final) if r.final else "not checked"),
    ]
    print_table("phases", ("what", "took"), phase_rows)
    title = f"CPU time during the phases: {r.seconds:.0f} s on {os.cpu_count()} cores"
    print_table(title, ("process", "CPU s", "RSS MiB"), r.usage)
    if r.aborted:
        print(f"  phases ended early: {r.aborted}")
    _pond_verdicts(plan, stats, r)
    if tests < plan.tests:
        note(f"the Keeper caps running tests at {tests}: {tests} of the {plan.tests} tests ran.")


def _pond_verdicts(plan: PondPlan, stats: PollStats, r: PondResults) -> None:
    errors, timeouts = sum(stats.errors.values()), sum(stats.timeouts.values())
    verdict(errors == 0 and timeouts == 0, "0 errors, 0 timeouts", f"{errors} errors, {timeouts} timeouts")
    stop_goal = plan.interval + 1.0
    verdict(
        r.stop_last is not None and r.stop_last <= stop_goal,
        f"emergency stop reaches every live School within one interval + 1 s ({stop_goal:g} s)",
        f"{r.told} of {r.live} told, the last after {_seconds(r.stop_last)}",
    )
    move_goal = 3 * plan.interval + 1.0
    worst = _worst(r.moved_keeper)
    verdict(
        worst is not None and worst <= move_goal,
        f"dead Schools' koi reassigned within 3 intervals + one allocator period ({move_goal:g} s)",
        f"the Keeper {_moved(r)}; the Schools' answers {_seconds(r.moved_schools)}",
    )
    final = r.final
    verdict(final is not None and final.overlap == 0, "final allocation disjoint", str(final or "not checked"))
    verdict(
        final is not None and final.complete,
        "final allocation complete (every active koi held)",
        str(final or "not checked"),
    )


# --- the run ----------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the short form (also BENCH_QUICK=1)")
    parser.add_argument("--part", choices=("inprocess", "pond", "all"), default="all")
    args = parser.parse_args(argv)
    short = args.quick or quick()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if args.part in ("inprocess", "all"):
        cells = QUICK_CELLS if short else FULL_CELLS
        print(f"in process: {TOTAL_KOI:,} koi, cells of Schools x running tests, embedded DynamoDB (moto)")
        inprocess_part(cells, [10] if short else [10, 100])
    if args.part in ("pond", "all"):
        pond_part(QUICK_POND if short else FULL_POND)
    return 0


if __name__ == "__main__":
    sys.exit(main())
