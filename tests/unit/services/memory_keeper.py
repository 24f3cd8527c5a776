"""Polls and the allocator wired over one in-memory pond (beside the services :func:`build_memory_pond` wires)."""

from __future__ import annotations

from dataclasses import dataclass

from koipond.clock import FixedClock
from koipond.composition.memory import MemoryPond, build_memory_pond
from koipond.memory.assignments import MemoryAssignmentRepository
from koipond.memory.schools import MemorySchoolRepository
from koipond.models.behavior import BehaviorDocument, StoredBehavior
from koipond.models.history import EventKind
from koipond.models.tests import BehaviorRef
from koipond.services.allocator import AllocatorService, AllocatorTiming
from koipond.services.history import new_event
from koipond.services.loadtests import NewLoadTest
from koipond.services.polling import PollService
from koipond.settings import Settings
from tests.conftest import MINIMAL_BEHAVIOR, START

SETTINGS = Settings()


@dataclass
class MemoryKeeper:
    pond: MemoryPond
    schools: MemorySchoolRepository
    assignments: MemoryAssignmentRepository
    polls: PollService
    clock: FixedClock

    def allocator(self, holder: str) -> AllocatorService:
        """An allocator process of its own (its own lease holder id and view) over the same pond."""
        timing = AllocatorTiming(
            SETTINGS.allocator_period_seconds,
            SETTINGS.allocator_lease_seconds,
            SETTINGS.poll_interval_seconds,
            SETTINGS.missed_polls,
        )
        pond = self.pond
        return AllocatorService(
            self.assignments,
            self.schools,
            pond.test_store,
            pond.tests,
            pond.history,
            pond.estop_store,
            pond.changes,
            self.clock,
            timing,
            holder,
        )

    def start(self, koi: int, duration_seconds: int | None = None) -> str:
        behavior = BehaviorRef(name="average_user")
        spec = NewLoadTest("t", "http://127.0.0.1:1", behavior, "w", koi, duration_seconds=duration_seconds)
        return self.pond.tests.create(spec, "tests").id

    def koi_by_school(self, test_id: str) -> dict[str, int]:
        return {a.school_id: a.koi_of(test_id) for a in self.assignments.list_all() if a.koi_of(test_id)}


def memory_keeper() -> MemoryKeeper:
    clock = FixedClock(START)
    pond = build_memory_pond(SETTINGS, clock)
    behavior = StoredBehavior(
        name="average_user",
        version=1,
        document=BehaviorDocument.model_validate(MINIMAL_BEHAVIOR),
        created_at=START,
        created_by="tests",
    )
    pond.behavior_store.put(behavior, new_event(clock, "behavior:average_user", EventKind.BEHAVIOR_PUT, "tests"))
    schools = MemorySchoolRepository(pond.writes)
    assignments = MemoryAssignmentRepository(pond.writes, schools)
    polls = PollService(
        schools,
        assignments,
        pond.estop_store,
        pond.test_store,
        pond.changes,
        clock,
        SETTINGS.poll_interval_seconds,
        SETTINGS.missed_polls,
    )
    return MemoryKeeper(pond, schools, assignments, polls, clock)
