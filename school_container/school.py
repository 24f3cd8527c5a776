"""The School: poll, reconcile koi to the assignment, keep the last one for a while if the Keeper is gone."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from koipond.api.poll import LoadTestSpec, PollAssignment
from koipond.metric_names import POLL_FAILED, POLL_OK
from school_container.keeper_link import KeeperLink, KeeperUnreachableError
from school_container.koi import Koi, LoadTestContext
from school_container.metrics import SchoolMetrics
from school_container.reconcile import Desired, indexes_of, plan_changes
from school_container.timers import KoiClock
from school_container.tokens import TokenSource, TokenUnavailableError
from school_container.web_api import WebApi

log = logging.getLogger("koipond.school")
STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class RunningTest:
    identity: tuple[str, ...]
    context: LoadTestContext
    koi: dict[int, asyncio.Task[None]] = field(default_factory=dict)


class School:
    def __init__(
        self,
        link: KeeperLink,
        web_api: WebApi,
        tokens: TokenSource,
        metrics: SchoolMetrics,
        capacity: int,
        failsafe_seconds: float,
        startup_spread_seconds: float,
    ) -> None:
        self._link = link
        self._web_api = web_api
        self._tokens = tokens
        self._metrics = metrics
        self._capacity = capacity
        self._failsafe = failsafe_seconds
        self._spread = startup_spread_seconds
        self._tests: dict[str, RunningTest] = {}
        # The assignment last received and its stamp: a poll names the stamp, and an unchanged answer
        # (no assignments) means "keep running this one".
        self._assigned: Sequence[PollAssignment] = ()
        self._assigned_version: int | None = None
        self._clock = KoiClock()  # one timer queue for every koi of every test on this School
        self._last_contact = time.monotonic()
        self._rng = random.Random()  # noqa: S311 - poll jitter, not security
        self.interval = 5.0
        self.ready = asyncio.Event()

    @property
    def koi_count(self) -> int:
        return sum(len(t.koi) for t in self._tests.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Poll and reconcile until ``stop`` is set; then stop every koi."""
        while not stop.is_set():
            await self.poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._link.retry_delay(self.interval, self._rng))
        await self.stop_everything("shutting down")

    async def poll_once(self) -> None:
        running = {tid: len(t.koi) for tid, t in self._tests.items()}
        try:
            answer = await self._link.poll(self._capacity, running, self._assigned_version)
        except KeeperUnreachableError as exc:
            self._metrics.polls.labels(POLL_FAILED).inc()
            silent = time.monotonic() - self._last_contact
            log.warning("Keeper unreachable for %.0fs: %s", silent, exc)
            if silent > self._failsafe and self._tests:
                # Fail safe: load nobody can steer must not keep running.
                await self.stop_everything(f"Keeper unreachable for {silent:.0f}s")
            return
        self._metrics.polls.labels(POLL_OK).inc()
        self._last_contact = time.monotonic()
        self.interval = answer.poll_interval_seconds
        self.ready.set()
        if answer.stop_all:
            await self.stop_everything(answer.stop_reason or "stop_all")
            return
        if answer.assignments is not None:
            self._assigned, self._assigned_version = answer.assignments, answer.allocation_version
        elif self.koi_count == sum(a.koi for a in self._assigned):
            return  # unchanged, and every koi of it runs: nothing to do
        # Also when unchanged: koi that crashed or could not start last time are started again.
        await self.reconcile(self._assigned)

    async def reconcile(self, assignments: Sequence[PollAssignment]) -> None:
        """Start and stop exactly the koi that differ from the assignments; leave the rest alone.

        A test whose spec cannot be read now keeps what it runs and starts nothing; the next poll tries again.
        """
        specs = await self._specs_of([a.test_id for a in assignments])
        running = {tid: frozenset(t.koi) for tid, t in self._tests.items()}
        identities = {tid: t.identity for tid, t in self._tests.items()}
        desired = {a.test_id: _desired(a, specs[a.test_id]) for a in assignments if a.test_id in specs}
        for test_id in {a.test_id for a in assignments} - set(specs):
            if test_id in running:  # cannot happen while its spec is cached; never stop koi for a failed read
                desired[test_id] = Desired(test_id, running[test_id], identities[test_id])
        plan = plan_changes(running, identities, desired)
        for test_id, indexes in plan.stop.items():
            await self._stop_koi(test_id, indexes)
        for test_id, indexes in plan.start.items():
            await self._start_koi(specs[test_id], desired[test_id], indexes)
        self._link.forget_specs({a.test_id for a in assignments} | set(self._tests))

    async def _specs_of(self, test_ids: list[str]) -> dict[str, LoadTestSpec]:
        try:
            missing = await self._link.fetch_specs(test_ids)
        except KeeperUnreachableError as exc:
            log.error("cannot read what the tests assigned run: %s", exc)
            missing = []
        if missing:
            log.error("the Keeper assigned koi of tests it does not know: %s", ", ".join(missing))
        return self._link.known_specs(test_ids)

    async def _start_koi(self, spec: LoadTestSpec, want: Desired, indexes: frozenset[int]) -> None:
        test_id = spec.test_id
        try:
            running = self._tests.get(test_id) or await self._new_test(spec, want)
            tokens = await self._tokens.tokens_for(spec.target, spec.workspace, sorted(indexes))
        except (KeeperUnreachableError, TokenUnavailableError) as exc:
            log.error("cannot start %d koi of %s: %s", len(indexes), test_id, exc)
            return
        self._tests[test_id] = running
        for index in indexes:
            koi = Koi(running.context, index, tokens[index])
            task = asyncio.create_task(koi.swim(), name=f"koi-{test_id}-{index}")
            task.add_done_callback(functools.partial(self._koi_ended, test_id, index))
            running.koi[index] = task
        self._metrics.koi.labels(test_id).set(len(running.koi))

    def _koi_ended(self, test_id: str, index: int, task: asyncio.Task[None]) -> None:
        """A koi that died on its own (a bug, not a stop) is forgotten, so the next poll restarts it."""
        if task.cancelled():
            return
        running = self._tests.get(test_id)
        if running is not None and running.koi.get(index) is task:
            del running.koi[index]
            self._metrics.koi.labels(test_id).set(len(running.koi))
        error = task.exception()
        self._metrics.koi_crashes.inc()
        log.error("koi %d of %s ended unexpectedly: %r", index, test_id, error)

    async def _new_test(self, spec: LoadTestSpec, want: Desired) -> RunningTest:
        document = await self._link.behavior(spec.behavior.name, spec.behavior.version)
        context = LoadTestContext(
            test_id=spec.test_id,
            workspace=spec.workspace,
            target=spec.target.rstrip("/"),
            behavior=document,
            web_api=self._web_api,
            metrics=self._metrics,
            startup_spread_seconds=self._spread,
            clock=self._clock,
        )
        return RunningTest(identity=want.identity, context=context)

    async def _stop_koi(self, test_id: str, indexes: frozenset[int]) -> None:
        running = self._tests[test_id]
        tasks = [running.koi.pop(i) for i in indexes if i in running.koi]
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a koi stuck in a close handshake must not hold up a stop (or the emergency stop).
            _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_SECONDS)
            if stuck:
                log.warning(
                    "%d koi of %s did not stop within %.0fs; left to finish; the first is at %s",
                    len(stuck),
                    test_id,
                    STOP_TIMEOUT_SECONDS,
                    _where(next(iter(stuck))),
                )
        if running.koi:
            self._metrics.koi.labels(test_id).set(len(running.koi))
        else:
            del self._tests[test_id]
            self._metrics.koi.remove(test_id)

    async def stop_everything(self, reason: str) -> None:
        # What ran is no longer what runs: the next poll asks for the whole assignment again.
        self._assigned, self._assigned_version = (), None
        if self._tests:
            log.warning("stopping all %d koi: %s", self.koi_count, reason)
        for test_id in list(self._tests):
            await self._stop_koi(test_id, frozenset(self._tests[test_id].koi))


def _desired(assignment: PollAssignment, spec: LoadTestSpec) -> Desired:
    behavior = spec.behavior
    identity = (behavior.name, str(behavior.version), spec.target, spec.workspace)
    return Desired(test_id=assignment.test_id, indexes=indexes_of(assignment.ranges), identity=identity)


def _where(task: asyncio.Task[Any]) -> str:
    """Where a task waits, innermost frame last: what an operator needs to see why a koi did not stop."""
    frames = task.get_stack(limit=8)
    return " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames)) or "(not started)"
