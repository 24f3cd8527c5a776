"""A koi host: runs its share of a School's koi, reconciled to the poller's orders (in the School or a worker)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from school_container.koi import Koi, LoadTestContext
from school_container.metrics import SchoolMetrics
from school_container.orders import SOLE, KoiOrder, Lane, Slot, share_of
from school_container.reconcile import Desired, plan_changes
from school_container.timers import KoiClock
from school_container.tokens import TokenSource, TokenUnavailableError
from school_container.web_api import WebApi

log = logging.getLogger("koipond.school")
STOP_TIMEOUT_SECONDS = 10.0


class KoiHosting(Protocol):
    """Where a School's poller sends its orders: one host in its own process, or a pool of workers."""

    async def apply(self, orders: Sequence[KoiOrder]) -> dict[str, int]:
        """Start and stop koi so that exactly ``orders`` run; return koi running per test."""
        ...

    async def stop_all(self, reason: str) -> None:
        """Stop every koi (bounded: a koi stuck in a close handshake is left to finish)."""
        ...

    async def running(self) -> dict[str, int]:
        """Koi running now per test (koi that crashed are no longer counted)."""
        ...


@dataclass
class RunningLane:
    """The koi of one test running one behavior version (a test has two while its koi move to a new one)."""

    test_id: str
    identity: tuple[str, ...]
    context: LoadTestContext
    koi: dict[int, asyncio.Task[None]] = field(default_factory=dict)


def lane_key(test_id: str, version: int) -> str:
    return f"{test_id}@{version}"


class KoiHost:
    """Hosts the koi of its ``slot``: starts, stops and forgets crashed koi (restarted at the next apply)."""

    def __init__(
        self,
        web_api: WebApi,
        tokens: TokenSource,
        metrics: SchoolMetrics,
        startup_spread_seconds: float,
        slot: Slot = SOLE,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._web_api = web_api
        self._tokens = tokens
        self._metrics = metrics
        self._spread = startup_spread_seconds
        self._slot = slot
        self._now = now
        self._lanes: dict[str, RunningLane] = {}  # by lane_key
        self._clock = KoiClock()  # one timer queue for every koi of every test on this host

    @property
    def koi_count(self) -> int:
        return sum(len(lane.koi) for lane in self._lanes.values())

    def counts(self) -> dict[str, int]:
        """Koi running per test (over its versions)."""
        counts: dict[str, int] = {}
        for lane in self._lanes.values():
            counts[lane.test_id] = counts.get(lane.test_id, 0) + len(lane.koi)
        return counts

    async def running(self) -> dict[str, int]:
        return self.counts()

    async def apply(self, orders: Sequence[KoiOrder]) -> dict[str, int]:
        """Start and stop exactly the koi of this host's share that differ from ``orders``; leave the rest alone.

        Koi are reconciled per lane (a test's koi on one behavior version), so while a following test's koi
        move to a new version only the batch that moves now restarts.
        """
        running = {key: frozenset(lane.koi) for key, lane in self._lanes.items()}
        identities = {key: lane.identity for key, lane in self._lanes.items()}
        desired: dict[str, Desired] = {}
        runnable: dict[str, tuple[KoiOrder, Lane]] = {}
        now = self._now()
        for order in orders:
            if order.runnable:
                for lane in order.lanes(share_of(order.ranges, self._slot), now):
                    key = lane_key(order.test_id, lane.version)
                    runnable[key] = (order, lane)
                    desired[key] = Desired(key, lane.koi, order.identity(lane.version))
            else:  # what it runs could not be read now: keep what runs, start nothing
                for key, held in self._lanes.items():
                    if held.test_id == order.test_id:
                        desired[key] = Desired(key, running[key], identities[key])
        plan = plan_changes(running, identities, desired)
        for key, indexes in plan.stop.items():
            await self._stop_koi(key, indexes)
        for key, indexes in plan.start.items():
            await self._start_koi(key, *runnable[key], desired[key], indexes)
        return self.counts()

    async def _start_koi(self, key: str, order: KoiOrder, lane: Lane, want: Desired, indexes: frozenset[int]) -> None:
        spec, test_id = order.spec, order.test_id
        if spec is None:
            return  # only runnable orders are planned to start
        try:
            tokens = await self._tokens.tokens_for(spec.target, spec.workspace, sorted(indexes))
        except TokenUnavailableError as exc:
            log.error("cannot start %d koi of %s: %s", len(indexes), test_id, exc)
            return
        existing = self._lanes.get(key)
        if existing is None:
            context = LoadTestContext(
                test_id=test_id,
                workspace=spec.workspace,
                target=spec.target.rstrip("/"),
                behavior=lane.behavior,
                web_api=self._web_api,
                metrics=self._metrics,
                startup_spread_seconds=self._spread,
                clock=self._clock,
            )
            existing = self._lanes[key] = RunningLane(test_id=test_id, identity=want.identity, context=context)
        for index in indexes:
            koi = Koi(existing.context, index, tokens[index])
            task = asyncio.create_task(koi.swim(), name=f"koi-{test_id}-{index}")
            task.add_done_callback(functools.partial(self._koi_ended, key, index))
            existing.koi[index] = task
        self._count(test_id)

    def _count(self, test_id: str) -> None:
        """Set the test's koi gauge to its koi over every lane (removed when none is left)."""
        koi = self.counts().get(test_id)
        if koi is None:
            with contextlib.suppress(KeyError):  # never set: none of its koi started
                self._metrics.koi.remove(test_id)
        else:
            self._metrics.koi.labels(test_id).set(koi)

    def _koi_ended(self, key: str, index: int, task: asyncio.Task[None]) -> None:
        """A koi that died on its own (a bug, not a stop) is forgotten, so the next apply restarts it."""
        if task.cancelled():
            return
        running = self._lanes.get(key)
        if running is not None and running.koi.get(index) is task:
            del running.koi[index]
            self._metrics.koi.labels(running.test_id).set(self.counts().get(running.test_id, 0))
        error = task.exception()
        self._metrics.koi_crashes.inc()
        log.error("koi %d of %s ended unexpectedly: %r", index, key, error)

    async def _stop_koi(self, key: str, indexes: frozenset[int]) -> None:
        running = self._lanes[key]
        test_id = running.test_id
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
        if not running.koi and self._lanes.get(key) is running:
            del self._lanes[key]
        self._count(test_id)

    async def stop_all(self, reason: str) -> None:
        if self._lanes:
            log.warning("stopping all %d koi: %s", self.koi_count, reason)
        for key in list(self._lanes):
            await self._stop_koi(key, frozenset(self._lanes[key].koi))


def _where(task: asyncio.Task[Any]) -> str:
    """Where a task waits, innermost frame last: what an operator needs to see why a koi did not stop."""
    frames = task.get_stack(limit=8)
    return " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames)) or "(not started)"
