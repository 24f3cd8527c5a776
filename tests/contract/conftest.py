"""Each persistence port in both flavours: DynamoDB adapters over the embedded AWS, in-memory ones over nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from koipond.clock import FixedClock
from koipond.memory.changes import MemoryPondChanges
from koipond.memory.estop import MemoryEmergencyStopRepository
from koipond.memory.history import MemoryHistoryRepository
from koipond.memory.loadtests import MemoryLoadTestRepository
from koipond.memory.rollouts import MemoryRolloutRepository
from koipond.memory.writes import MemoryUnitOfWork
from koipond.models.history import EventKind, HistoryEvent
from koipond.models.rollouts import Rollout, Stage
from koipond.models.tests import BehaviorRef, LoadTest
from koipond.services.history import new_event
from koipond.services.ports.changes import PondChanges
from koipond.services.ports.estop import EmergencyStopRepository
from koipond.services.ports.history import HistoryRepository
from koipond.services.ports.loadtests import LoadTestRepository
from koipond.services.ports.rollouts import RolloutRepository
from koipond.services.ports.writes import UnitOfWork
from koipond.settings import Settings
from koipond.store.estop import DynamoEmergencyStopRepository
from koipond.store.history import DynamoHistoryRepository
from koipond.store.loadtests import DynamoLoadTestRepository
from koipond.store.pond_changes import DynamoPondChanges
from koipond.store.rollouts import DynamoRolloutRepository
from koipond.store.table import DynamoTable
from koipond.store.writes import DynamoUnitOfWork

FLAVOURS = ["dynamodb", "memory"]
RETENTION_DAYS = 30


@dataclass(frozen=True)
class Stores:
    """One flavour's adapters over one store, typed as the ports services see."""

    writes: UnitOfWork
    history: HistoryRepository
    changes: PondChanges
    tests: LoadTestRepository
    estop: EmergencyStopRepository
    rollouts: RolloutRepository


def _dynamodb(request: pytest.FixtureRequest) -> Stores:
    # Asked for only by the DynamoDB flavour, so memory runs never start the embedded AWS.
    client: Any = request.getfixturevalue("dynamodb")
    settings: Settings = request.getfixturevalue("settings")
    table = DynamoTable(client, settings.table_name)
    history = DynamoHistoryRepository(table, lambda _event: {}, RETENTION_DAYS)
    return Stores(
        writes=DynamoUnitOfWork(table),
        history=history,
        changes=DynamoPondChanges(table),
        tests=DynamoLoadTestRepository(table, history),
        estop=DynamoEmergencyStopRepository(table, history),
        rollouts=DynamoRolloutRepository(table, history),
    )


def _memory() -> Stores:
    writes = MemoryUnitOfWork()
    history = MemoryHistoryRepository(writes, RETENTION_DAYS)
    changes = MemoryPondChanges(writes)
    tests = MemoryLoadTestRepository(writes, history, changes)
    return Stores(
        writes=writes,
        history=history,
        changes=changes,
        tests=tests,
        estop=MemoryEmergencyStopRepository(writes, history),
        rollouts=MemoryRolloutRepository(writes, history, tests),
    )


@pytest.fixture(params=FLAVOURS)
def stores(request: pytest.FixtureRequest) -> Stores:
    return _dynamodb(request) if request.param == "dynamodb" else _memory()


def event(clock: FixedClock, subject: str, kind: EventKind = EventKind.TEST_SCALED, **details: Any) -> HistoryEvent:
    """A history event now; the clock moves a microsecond so ids sort in the order events are made."""
    made = new_event(clock, subject, kind, "alice", None, details)
    clock.advance(0.000001)
    return made


def load_test(clock: FixedClock, test_id: str = "lt-1", koi: int = 10, **changes: Any) -> LoadTest:
    now = clock.now()
    fields: dict[str, Any] = {
        "id": test_id,
        "name": "nightly",
        "target": "http://127.0.0.1:8800",
        "behavior": BehaviorRef(name="average_user", version=1),
        "workspace": "pond",
        "koi": koi,
        "created_at": now,
        "created_by": "alice",
        "updated_at": now,
    }
    return LoadTest(**{**fields, **changes})


def rollout(clock: FixedClock, test_id: str = "lt-1", rollout_id: str = "ro-1", **changes: Any) -> Rollout:
    now = clock.now()
    fields: dict[str, Any] = {
        "id": rollout_id,
        "test_id": test_id,
        "stages": [Stage(koi=20, hold_seconds=60), Stage(koi=40, hold_seconds=60)],
        "current": 0,
        "stage_started_at": now,
        "created_at": now,
        "created_by": "alice",
        "updated_at": now,
    }
    return Rollout(**{**fields, **changes})
