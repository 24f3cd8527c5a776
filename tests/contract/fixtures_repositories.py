"""Adapters under contract, built fresh per test: DynamoDB ones over the embedded AWS, in-memory ones over nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pytest

from koipond.clock import FixedClock
from koipond.memory.history import MemoryHistoryRepository
from koipond.memory.writes import MemoryUnitOfWork
from koipond.models.history import EventKind, HistoryEvent
from koipond.services.history import new_event
from koipond.services.ports.history import HistoryRepository
from koipond.settings import Settings
from koipond.store.history import DynamoHistoryRepository
from koipond.store.table import DynamoTable
from tests.conftest import START

FLAVOURS = ["dynamodb", "memory"]
R = TypeVar("R")


def dynamo_table(request: pytest.FixtureRequest) -> DynamoTable:
    """A fresh table on the embedded AWS; asked for only by the DynamoDB flavour, so memory runs start none."""
    client: Any = request.getfixturevalue("dynamodb")
    settings: Settings = request.getfixturevalue("settings")
    return DynamoTable(client, settings.table_name)


@dataclass
class WithHistory(Generic[R]):
    """A repository and the history its writes append to, of one flavour."""

    repo: R
    history: HistoryRepository


def with_history(
    request: pytest.FixtureRequest,
    dynamo: Callable[[DynamoTable, DynamoHistoryRepository], R],
    memory: Callable[[MemoryUnitOfWork, MemoryHistoryRepository], R],
) -> WithHistory[R]:
    """The repository of the flavour ``request.param`` names, over a fresh store."""
    if request.param == "memory":
        writes = MemoryUnitOfWork()
        memory_history = MemoryHistoryRepository(writes)
        return WithHistory(memory(writes, memory_history), memory_history)
    table = dynamo_table(request)
    dynamo_history = DynamoHistoryRepository(table, lambda _event: {})
    return WithHistory(dynamo(table, dynamo_history), dynamo_history)


_clock = FixedClock(START)


def event(subject: str, kind: EventKind = EventKind.KEY_CREATED) -> HistoryEvent:
    """A new event about ``subject`` (its kind does not matter to the repositories)."""
    return new_event(_clock, subject, kind, "tests")
