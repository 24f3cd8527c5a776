"""School polls: record the heartbeat, read the emergency stop, answer with the School's own assignment.

A poll costs the same whatever the size of the pond and whatever the School holds: one write (the
heartbeat, which returns the stamp of the School's assignment at no read cost) and one read (the
emergency stop). Only when the School's assignment changed since the one it runs is that School's
assignment item read as well. A poll never allocates; the allocator does
(:mod:`koipond.services.allocator`), one holder at a time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from koipond.clock import Clock
from koipond.errors import StoreError
from koipond.models.allocation import Allocation
from koipond.models.assignments import SchoolAssignment
from koipond.models.estop import EmergencyStop
from koipond.models.schools import PollAnswer, School
from koipond.models.tests import LoadTest
from koipond.services.allocation import is_live
from koipond.services.ports.assignments import AssignmentRepository
from koipond.services.ports.changes import PondChanges
from koipond.services.ports.estop import EmergencyStopRepository
from koipond.services.ports.loadtests import LoadTestRepository
from koipond.services.ports.schools import SchoolRepository

log = logging.getLogger("koipond.polls")


class PollService:
    def __init__(
        self,
        schools: SchoolRepository,
        assignments: AssignmentRepository,
        estop: EmergencyStopRepository,
        tests: LoadTestRepository,
        changes: PondChanges,
        clock: Clock,
        poll_interval_seconds: float,
        missed_polls: int,
    ) -> None:
        self._schools = schools
        self._assignments = assignments
        self._estop = estop
        self._tests = tests
        self._changes = changes
        self._clock = clock
        self._interval = poll_interval_seconds
        self._missed = missed_polls

    def poll(
        self, school_id: str, capacity: int, running: Mapping[str, int], known_version: int | None = None
    ) -> PollAnswer:
        """Handle one poll and return the School's desired state.

        The heartbeat comes first so that a School's liveness depends on its own polls only; the
        emergency stop is read before the assignment, and an active stop is answered without it.
        ``known_version`` is the stamp of the assignment the School runs: when the heartbeat shows it
        is still the School's current one, the answer says so instead of reading and repeating it.

        Raises:
            StoreError: the emergency stop or the School's assignment cannot be read.
        """
        current: int | None = -1  # unknown: read the assignment
        try:
            current = self.record_heartbeat(school_id, capacity, running)
        except StoreError as exc:
            # The answer matters more than the heartbeat: it may carry a stop.
            log.warning("heartbeat of %s not recorded: %s", school_id, exc)
        estop = self._estop.get()
        if estop.active:
            return self._answer(SchoolAssignment(school_id=school_id), estop)
        if known_version is not None and current == known_version:
            return self._answer(SchoolAssignment(school_id=school_id, version=known_version), estop, unchanged=True)
        return self._answer(self._assignments.get(school_id), estop)

    def record_heartbeat(
        self, school_id: str, capacity: int, running: Mapping[str, int], now: datetime | None = None
    ) -> int | None:
        """Remember what the School said and when (``now`` by default), in one write with no read before it.

        A poll the allocator must hear of (the School's first, one back from the dead, a new capacity)
        also moves the pond's change counter, so the allocator's quiet passes need not read heartbeats.

        Returns:
            The stamp of the School's assignment as the allocator last wrote it (None: none yet).
        """
        now = now or self._clock.now()
        previous = self._schools.heartbeat(school_id, capacity, running, now)
        before = previous.school
        if before is None or before.capacity != capacity or not self._live(before, now):
            try:
                self._changes.move()
            except StoreError as exc:  # the allocator's periodic full pass hears of it instead
                log.warning("the allocator was not told of %s's news: %s", school_id, exc)
        if previous.running_changed:
            self._save_running(school_id, running, now)
        return before.assignment_version if before else None

    def _save_running(self, school_id: str, running: Mapping[str, int], now: datetime) -> None:
        """Store the School's koi per test, which changed; people read it, polls never do."""
        try:
            self._schools.save_running(school_id, running, now)
        except StoreError as exc:
            log.warning("koi per test of %s not recorded: %s", school_id, exc)
            with contextlib.suppress(StoreError):  # else the next poll, seeing the digest equal, would not retry
                self._schools.forget_running_digest(school_id)

    def _live(self, school: School, now: datetime) -> bool:
        return is_live(school.last_poll_at, now, self._interval, self._missed)

    def list_schools(self) -> list[tuple[School, bool]]:
        """Every known School with whether it is live, what it runs per test and how many koi it is assigned."""
        now = self._clock.now()
        running = self._schools.running_by_school()
        return [
            (s.model_copy(update={"running": running.get(s.id, {})}), self._live(s, now))
            for s in sorted([*self._schools.list_all(), *self._schools.list_retired()], key=lambda s: s.id)
        ]

    def current_allocation(self) -> Allocation:
        """Every School's koi ranges per test, as stored now (one Query of the assignment items)."""
        return Allocation(assignments={a.school_id: a.ranges() for a in self._assignments.list_all() if a.tests})

    def _answer(self, assignment: SchoolAssignment, estop: EmergencyStop, unchanged: bool = False) -> PollAnswer:
        return PollAnswer(
            school_id=assignment.school_id,
            stop_all=estop.active,
            stop_reason=f"emergency stop: {estop.reason}" if estop.active else None,
            poll_interval_seconds=self._interval,
            allocation_version=assignment.version,
            assignments=None if unchanged else () if estop.active else assignment.tests,
        )

    def specs_of_tests(self, test_ids: Sequence[str]) -> tuple[list[LoadTest], list[str]]:
        """The tests a School asked for (one batch read), and the ids of those that do not exist."""
        found = {t.id: t for t in self._tests.get_many(sorted(set(test_ids)))}
        return [found[i] for i in sorted(found)], sorted(set(test_ids) - set(found))
