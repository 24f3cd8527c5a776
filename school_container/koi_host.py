"""A koi host: runs its share of a School's koi, reconciled to the poller's orders (in the School or a worker)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from school_container.koi import Koi, LoadTestContext
from school_container.metrics import SchoolMetrics
from school_container.orders import SOLE, KoiOrder, Slot, share_of
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
class RunningTest:
    identity: tuple[str, ...]
    context: LoadTestContext
    koi: dict[int, asyncio.Task[None]] = field(default_factory=dict)


class KoiHost:
    """Hosts the koi of its ``slot``: starts, stops and forgets crashed koi (restarted at the next apply)."""

    def __init__(
        self,
        web_api: WebApi,
        tokens: TokenSource,
        metrics: SchoolMetrics,
        startup_spread_seconds: float,
        slot: Slot = SOLE,
    ) -> None:
        self._web_api = web_api
        self._tokens = tokens
        self._metrics = metrics
        self._spread = startup_spread_seconds
        self._slot = slot
        self._tests: dict[str, RunningTest] = {}
        self._clock = KoiClock()  # one timer queue for every koi of every test on this host

    @property
    def koi_count(self) -> int:
        return sum(len(t.koi) for t in self._tests.values())

    def counts(self) -> dict[str, int]:
        return {test_id: len(t.koi) for test_id, t in self._tests.items()}

    async def running(self) -> dict[str, int]:
        return self.counts()

    async def apply(self, orders: Sequence[KoiOrder]) -> dict[str, int]:
        """Start and stop exactly the koi of this host's share that differ from ``orders``; leave the rest alone."""
        running = {tid: frozenset(t.koi) for tid, t in self._tests.items()}
        identities = {tid: t.identity for tid, t in self._tests.items()}
        desired: dict[str, Desired] = {}
        runnable: dict[str, KoiOrder] = {}
        for order in orders:
            if order.runnable:
                runnable[order.test_id] = order
                desired[order.test_id] = Desired(order.test_id, share_of(order.ranges, self._slot), order.identity)
            elif order.test_id in running:  # what it runs could not be read now: keep what runs, start nothing
                desired[order.test_id] = Desired(order.test_id, running[order.test_id], identities[order.test_id])
        plan = plan_changes(running, identities, desired)
        for test_id, indexes in plan.stop.items():
            await self._stop_koi(test_id, indexes)
        for test_id, indexes in plan.start.items():
            await self._start_koi(runnable[test_id], desired[test_id], indexes)
        return self.counts()

    async def _start_koi(self, order: KoiOrder, want: Desired, indexes: frozenset[int]) -> None:
        spec, behavior, test_id = order.spec, order.behavior, order.test_id
        if spec is None or behavior is None:
            return  # only runnable orders are planned to start
        try:
            tokens = await self._tokens.tokens_for(spec.target, spec.workspace, sorted(indexes))
        except TokenUnavailableError as exc:
            log.error("cannot start %d koi of %s: %s", len(indexes), test_id, exc)
            return
        running = self._tests.get(test_id)
        if running is None:
            context = LoadTestContext(
                test_id=test_id,
                workspace=spec.workspace,
                target=spec.target.rstrip("/"),
                behavior=behavior,
                web_api=self._web_api,
                metrics=self._metrics,
                startup_spread_seconds=self._spread,
                clock=self._clock,
            )
            running = self._tests[test_id] = RunningTest(identity=want.identity, context=context)
        for index in indexes:
            koi = Koi(running.context, index, tokens[index])
            task = asyncio.create_task(koi.swim(), name=f"koi-{test_id}-{index}")
            task.add_done_callback(functools.partial(self._koi_ended, test_id, index))
            running.koi[index] = task
        self._metrics.koi.labels(test_id).set(len(running.koi))

    def _koi_ended(self, test_id: str, index: int, task: asyncio.Task[None]) -> None:
        """A koi that died on its own (a bug, not a stop) is forgotten, so the next apply restarts it."""
        if task.cancelled():
            return
        running = self._tests.get(test_id)
        if running is not None and running.koi.get(index) is task:
            del running.koi[index]
            self._metrics.koi.labels(test_id).set(len(running.koi))
        error = task.exception()
        self._metrics.koi_crashes.inc()
        log.error("koi %d of %s ended unexpectedly: %r", index, test_id, error)

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

    async def stop_all(self, reason: str) -> None:
        if self._tests:
            log.warning("stopping all %d koi: %s", self.koi_count, reason)
        for test_id in list(self._tests):
            await self._stop_koi(test_id, frozenset(self._tests[test_id].koi))


def _where(task: asyncio.Task[Any]) -> str:
    """Where a task waits, innermost frame last: what an operator needs to see why a koi did not stop."""
    frames = task.get_stack(limit=8)
    return " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames)) or "(not started)"
