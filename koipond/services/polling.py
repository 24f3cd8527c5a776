"""School polls: record the heartbeat, recompute the allocation, answer with the School's share."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from koipond.backoff import full_jitter_seconds
from koipond.errors import StaleVersionError, StoreError
from koipond.models.allocation import Allocation
from koipond.models.estop import EmergencyStop
from koipond.models.history import EventKind, HistoryEvent
from koipond.models.schools import PollAnswer, School, TestAssignment
from koipond.models.tests import LoadTest, LoadTestStatus
from koipond.ports import Clock
from koipond.services.allocation import KoiDemand, SchoolView, allocate_koi, is_live
from koipond.services.history import describe_reallocation, new_event, reallocation_details
from koipond.services.loadtests import LoadTestService
from koipond.store.allocation import DynamoAllocationRepository
from koipond.store.estop import DynamoEmergencyStopRepository
from koipond.store.loadtests import DynamoLoadTestRepository
from koipond.store.schools import DynamoSchoolRepository

log = logging.getLogger("koipond.polls")
# Concurrent polls retry on a lost race after 0-20, 0-40, 0-80, 0-160 ms; past this, the poll answers
# from the stored allocation.
_MAX_ATTEMPTS = 5
_RETRY_BASE_SECONDS = 0.02
_RETRY_CAP_SECONDS = 0.25


@dataclass(frozen=True)
class PollSnapshot:
    allocation: Allocation
    tests: dict[str, LoadTest]
    estop: EmergencyStop
    schools: list[School]


class PollService:
    def __init__(
        self,
        schools: DynamoSchoolRepository,
        allocation: DynamoAllocationRepository,
        tests: DynamoLoadTestRepository,
        estop: DynamoEmergencyStopRepository,
        lifecycle: LoadTestService,
        clock: Clock,
        poll_interval_seconds: float,
        missed_polls: int,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._schools = schools
        self._allocation = allocation
        self._tests = tests
        self._estop = estop
        self._lifecycle = lifecycle
        self._clock = clock
        self._interval = poll_interval_seconds
        self._missed = missed_polls
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - retry jitter, not security

    def poll(self, school_id: str, capacity: int, running: Mapping[str, int]) -> PollAnswer:
        """Handle one poll and return the School's desired state.

        The emergency stop is read before anything that can race or fail, and an active stop is
        answered without touching the allocation: the stop lands whatever else is broken. A lost
        allocation race is retried after a jittered pause; past that, or when the allocation write
        fails, the School gets its share of the stored allocation rather than an error.

        Raises:
            StoreError: the emergency stop or the stored allocation cannot be read at all.
        """
        now = self._clock.now()
        try:
            self.record_heartbeat(school_id, capacity, running, now)
        except StoreError as exc:
            # The answer matters more than the heartbeat: it may carry a stop.
            log.warning("heartbeat of %s not recorded: %s", school_id, exc)
        estop = self._estop.get()
        if estop.active:
            return self._answer(school_id, Allocation(), {}, estop)
        try:
            return self._reallocate_and_answer(school_id, now)
        except StoreError as exc:
            log.warning("allocation for the poll of %s failed, answering from the stored one: %s", school_id, exc)
        snapshot = self.snapshot()
        return self._answer(school_id, snapshot.allocation, snapshot.tests, snapshot.estop)

    def _reallocate_and_answer(self, school_id: str, now: datetime) -> PollAnswer:
        for attempt in range(_MAX_ATTEMPTS):
            snapshot = self.snapshot()
            if attempt == 0 and any(
                t.has_elapsed(now) for t in snapshot.tests.values() if t.status is LoadTestStatus.RUNNING
            ):
                self._lifecycle.complete_elapsed(list(snapshot.tests.values()))
                continue
            try:
                allocation = self.reallocate(snapshot)
                return self._answer(school_id, allocation, snapshot.tests, snapshot.estop)
            except StaleVersionError:
                self._sleep(full_jitter_seconds(attempt, _RETRY_BASE_SECONDS, _RETRY_CAP_SECONDS, self._rng))
        snapshot = self.snapshot()
        return self._answer(school_id, snapshot.allocation, snapshot.tests, snapshot.estop)

    def record_heartbeat(
        self, school_id: str, capacity: int, running: Mapping[str, int], now: datetime | None = None
    ) -> None:
        """Remember what the School said and when (``now`` by default), in one write with no read before it."""
        self._schools.heartbeat(school_id, capacity, running, now or self._clock.now())

    def list_schools(self) -> list[tuple[School, bool, int]]:
        """Every known School with whether it is live and how many koi it is assigned."""
        allocation = self._allocation.get()
        now = self._clock.now()
        return [
            (s, is_live(s.last_poll_at, now, self._interval, self._missed), allocation.load_of_school(s.id))
            for s in sorted(self._schools.list_all(), key=lambda s: s.id)
        ]

    def current_allocation(self) -> Allocation:
        return self._allocation.get()

    def snapshot(self) -> PollSnapshot:
        """Everything an allocation is computed from, read now."""
        # The estop and allocation are read first: the write's checks then catch any change
        # that lands between these reads and the write.
        estop = self._estop.get()
        allocation = self._allocation.get()
        ids = {t.id for t in self._tests.list_by_status(LoadTestStatus.RUNNING)}
        ids |= {test_id for tests in allocation.assignments.values() for test_id in tests}
        # The index is eventually consistent: confirm every test with a consistent read.
        tests = {t.id: t for t in self._tests.get_many(sorted(ids))}
        return PollSnapshot(allocation, tests, estop, self._schools.list_all())

    def reallocate(self, snapshot: PollSnapshot) -> Allocation:
        """Compute the allocation from ``snapshot`` and store it if it changed.

        Raises:
            StaleVersionError: something in the snapshot changed before the write; nothing was written.
        """
        previous, tests, estop = snapshot.allocation, snapshot.tests, snapshot.estop
        demands = [] if estop.active else [KoiDemand(t.id, t.active_koi) for t in tests.values() if t.active_koi > 0]
        now = self._clock.now()
        views = [
            SchoolView(s.id, s.capacity, is_live(s.last_poll_at, now, self._interval, self._missed))
            for s in snapshot.schools
        ]
        proposed = allocate_koi(previous, demands, views)
        if proposed.same_assignments(previous):
            return previous
        events = self._reallocation_events(previous, proposed, tests)
        versions = {test_id: t.version for test_id, t in tests.items()}
        return self._allocation.save(proposed, previous.version, versions, estop.version, events)

    def _reallocation_events(
        self, previous: Allocation, proposed: Allocation, tests: dict[str, LoadTest]
    ) -> list[HistoryEvent]:
        """One compact event per test whose set of Schools changed: counts and a few School ids."""
        events = []
        for test_id in sorted(tests):
            before, after = previous.koi_of_test(test_id), proposed.koi_of_test(test_id)
            if set(before) != set(after):
                details = reallocation_details(before, after)
                reason = describe_reallocation(details)
                events.append(new_event(self._clock, test_id, EventKind.TEST_REALLOCATED, "keeper", reason, details))
        return events

    def _answer(
        self, school_id: str, allocation: Allocation, tests: dict[str, LoadTest], estop: EmergencyStop
    ) -> PollAnswer:
        assignments = []
        for test_id, ranges in sorted(allocation.for_school(school_id).items()):
            test = tests.get(test_id)
            if test is None or estop.active:
                continue
            assignments.append(
                TestAssignment(
                    test_id=test.id,
                    test_name=test.name,
                    ranges=ranges,
                    koi=sum(r.size for r in ranges),
                    behavior_name=test.behavior.name,
                    behavior_version=test.behavior.version,
                    target=test.target,
                    workspace=test.workspace,
                    tags=test.tags,
                )
            )
        return PollAnswer(
            school_id=school_id,
            stop_all=estop.active,
            stop_reason=f"emergency stop: {estop.reason}" if estop.active else None,
            poll_interval_seconds=self._interval,
            allocation_version=allocation.version,
            assignments=tuple(assignments),
        )
