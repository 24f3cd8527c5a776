"""A pond without a store: the load test, emergency stop, rollout and continuous services over in-memory adapters.

Wiring them here also makes mypy check that every in-memory adapter satisfies its port.
"""

from __future__ import annotations

from dataclasses import dataclass

from koipond.clock import Clock
from koipond.memory.behavior_sources import MemoryBehaviorSourceRepository, MemoryInstantQueries, MemoryUsageObjects
from koipond.memory.behaviors import MemoryBehaviorRepository
from koipond.memory.changes import MemoryPondChanges
from koipond.memory.estop import MemoryEmergencyStopRepository
from koipond.memory.guard import MemoryGuardRepository
from koipond.memory.history import MemoryHistoryRepository
from koipond.memory.loadtests import MemoryLoadTestRepository
from koipond.memory.rollouts import MemoryRolloutRepository
from koipond.memory.writes import MemoryUnitOfWork
from koipond.models.behavior_source import parse_locations
from koipond.services.behavior_sources import BehaviorSourceService
from koipond.services.continuous import ContinuousTestService
from koipond.services.emergency_stop import EmergencyStopService
from koipond.services.loadtests import LoadTestService
from koipond.services.rollouts import RolloutService
from koipond.services.usage_rates import SourceReaders
from koipond.settings import Settings, guard_clusters


@dataclass(frozen=True)
class MemoryPond:
    """The services, and the adapters under them (a test reads the state the services left)."""

    writes: MemoryUnitOfWork
    history: MemoryHistoryRepository
    changes: MemoryPondChanges
    test_store: MemoryLoadTestRepository
    estop_store: MemoryEmergencyStopRepository
    rollout_store: MemoryRolloutRepository
    behavior_store: MemoryBehaviorRepository
    guard_store: MemoryGuardRepository
    source_store: MemoryBehaviorSourceRepository
    usage_objects: MemoryUsageObjects
    prometheus: MemoryInstantQueries
    tests: LoadTestService
    estop: EmergencyStopService
    rollouts: RolloutService
    continuous: ContinuousTestService
    behavior_sources: BehaviorSourceService


def build_memory_pond(settings: Settings, clock: Clock) -> MemoryPond:
    """Wire the services over one in-memory pond.

    Args:
        settings: the limits (koi per test, running tests, history retention) the services apply.
        clock: the services' time.
    """
    writes = MemoryUnitOfWork()
    history = MemoryHistoryRepository(writes, settings.history_retention_days)
    changes = MemoryPondChanges(writes)
    test_store = MemoryLoadTestRepository(writes, history, changes)
    estop_store = MemoryEmergencyStopRepository(writes, history)
    rollout_store = MemoryRolloutRepository(writes, history, test_store)
    behaviors = MemoryBehaviorRepository(writes, history)
    guard = MemoryGuardRepository(writes, history)
    sources = MemoryBehaviorSourceRepository(writes)
    objects, prometheus = MemoryUsageObjects(), MemoryInstantQueries()
    readers = SourceReaders(
        objects, prometheus, parse_locations(settings.behavior_source_locations), frozenset(guard_clusters(settings))
    )
    tests = LoadTestService(
        test_store, history, estop_store, behaviors, clock, settings.max_koi_per_test, settings.max_running_tests
    )
    return MemoryPond(
        writes=writes,
        history=history,
        changes=changes,
        test_store=test_store,
        estop_store=estop_store,
        rollout_store=rollout_store,
        behavior_store=behaviors,
        guard_store=guard,
        source_store=sources,
        usage_objects=objects,
        prometheus=prometheus,
        tests=tests,
        estop=EmergencyStopService(estop_store, history, tests, clock),
        rollouts=RolloutService(rollout_store, tests, guard, estop_store, clock, settings.max_koi_per_test, writes),
        continuous=ContinuousTestService(tests, history, guard, estop_store, clock),
        behavior_sources=BehaviorSourceService(sources, behaviors, history, readers, clock),
    )
