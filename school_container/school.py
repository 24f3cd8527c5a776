"""The School's poller: poll, turn the assignment into orders for its koi hosts, fail safe if the Keeper is gone.

The poller is the School's one identity towards the Keeper (one poll, one capacity for the whole School);
the koi themselves run in koi hosts (:mod:`school_container.koi_host`), in this process or in worker
processes (:mod:`school_container.worker_pool`), behind the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence

from koipond.api.poll import LoadTestSpec, PollAssignment
from koipond.metric_names import POLL_FAILED, POLL_OK
from koipond.models.behavior import BehaviorDocument
from school_container.keeper_link import KeeperLink, KeeperUnreachableError
from school_container.koi_host import KoiHosting
from school_container.metrics import SchoolMetrics
from school_container.orders import KoiOrder, ranges_of

log = logging.getLogger("koipond.school")


class School:
    def __init__(
        self, link: KeeperLink, hosts: KoiHosting, metrics: SchoolMetrics, capacity: int, failsafe_seconds: float
    ) -> None:
        self._link = link
        self._hosts = hosts
        self._metrics = metrics
        self._capacity = capacity
        self._failsafe = failsafe_seconds
        self._running: dict[str, int] = {}  # koi per test, as the hosts last said
        # The assignment last received and its stamp: a poll names the stamp, and an unchanged answer
        # (no assignments) means "keep running this one".
        self._assigned: Sequence[PollAssignment] = ()
        self._assigned_version: int | None = None
        # Behavior documents by (name, version), read once each (a stored version never changes), so every
        # host gets the same; a test that follows its behavior's latest version may need two at once.
        self._behaviors: dict[tuple[str, int | None], BehaviorDocument] = {}
        self._last_contact = time.monotonic()
        self._rng = random.Random()  # noqa: S311 - poll jitter, not security
        self.interval = 5.0
        self.ready = asyncio.Event()

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def koi_count(self) -> int:
        """Koi running on the whole School, as its hosts last reported."""
        return sum(self._running.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Poll and reconcile until ``stop`` is set; then stop every koi."""
        while not stop.is_set():
            await self.poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._link.retry_delay(self.interval, self._rng))
        await self.stop_everything("shutting down")

    async def poll_once(self) -> None:
        self._running = await self._hosts.running()
        try:
            answer = await self._link.poll(self._capacity, self._running, self._assigned_version)
        except KeeperUnreachableError as exc:
            self._metrics.polls.labels(POLL_FAILED).inc()
            silent = time.monotonic() - self._last_contact
            log.warning("Keeper unreachable for %.0fs: %s", silent, exc)
            if silent > self._failsafe and self.koi_count:
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
        elif self.koi_count == sum(a.koi for a in self._assigned) and not self._link.follows_latest(
            [a.test_id for a in self._assigned]
        ):
            return  # unchanged, every koi of it runs, and none may move to a new behavior version: nothing to do
        # Also when unchanged: koi that crashed or could not start last time are started again.
        await self.reconcile(self._assigned)

    async def reconcile(self, assignments: Sequence[PollAssignment]) -> None:
        """Order the hosts to run exactly the assignments; they touch only the koi that differ.

        A test whose spec or behavior cannot be read now keeps what it runs and starts nothing; the next
        poll tries again.
        """
        test_ids = [a.test_id for a in assignments]
        specs = await self._specs_of(test_ids)
        orders = []
        for a in assignments:
            spec = specs.get(a.test_id)
            change = None if spec is None else spec.behavior_change
            current = None if spec is None else await self._behavior_of(spec, spec.behavior.version)
            previous = None if spec is None or change is None else await self._behavior_of(spec, change.from_version)
            orders.append(KoiOrder(a.test_id, ranges_of(a.ranges), spec, current, previous))
        self._running = await self._hosts.apply(orders)
        keep = set(test_ids) | set(self._running)
        self._link.forget_specs(keep)
        in_use = {
            (spec.behavior.name, version)
            for spec in self._link.known_specs(list(keep)).values()
            for version in (spec.behavior.version, spec.behavior_change.from_version if spec.behavior_change else None)
        }
        self._behaviors = {key: document for key, document in self._behaviors.items() if key in in_use}

    async def _specs_of(self, test_ids: list[str]) -> dict[str, LoadTestSpec]:
        try:
            missing = await self._link.fetch_specs(test_ids)
        except KeeperUnreachableError as exc:
            log.error("cannot read what the tests assigned run: %s", exc)
            missing = []
        if missing:
            log.error("the Keeper assigned koi of tests it does not know: %s", ", ".join(missing))
        return self._link.known_specs(test_ids)

    async def _behavior_of(self, spec: LoadTestSpec, version: int | None) -> BehaviorDocument | None:
        """Version ``version`` of the spec's behavior (None: the latest), or None when it cannot be read now."""
        key = (spec.behavior.name, version)
        document = self._behaviors.get(key)
        if document is None:
            try:
                document = await self._link.behavior(*key)
            except KeeperUnreachableError as exc:
                log.error("cannot start koi of %s (behavior %s v%s): %s", spec.test_id, key[0], version, exc)
                return None
            self._behaviors[key] = document
        return document

    async def stop_everything(self, reason: str) -> None:
        # What ran is no longer what runs: the next poll asks for the whole assignment again.
        self._assigned, self._assigned_version = (), None
        await self._hosts.stop_all(reason)
        self._running = {}
