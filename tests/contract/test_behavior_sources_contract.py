"""The behavior source repository's contract, over DynamoDB and in memory: versioned saves, due listing, atomic runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from koipond.errors import StaleVersionError
from koipond.memory.behavior_sources import MemoryBehaviorSourceRepository
from koipond.memory.behaviors import MemoryBehaviorRepository
from koipond.models.behavior import BehaviorDocument, StoredBehavior
from koipond.models.behavior_source import BehaviorSource, BehaviorSourceState
from koipond.models.history import EventKind
from koipond.services.ports.behavior_sources import BehaviorSourceRepository
from koipond.services.ports.behaviors import BehaviorRepository
from koipond.services.ports.history import HistoryRepository
from koipond.store.behavior_sources import DynamoBehaviorSourceRepository
from koipond.store.behaviors import DynamoBehaviorRepository
from tests.conftest import MINIMAL_BEHAVIOR, START
from tests.contract.fixtures_repositories import FLAVOURS, event, with_history

SOURCE = BehaviorSource(kind="s3", bucket="usage", key="exports/avg.csv", window=86_400)


@dataclass
class Stores:
    sources: BehaviorSourceRepository
    behaviors: BehaviorRepository
    history: HistoryRepository


@pytest.fixture(params=FLAVOURS)
def stores(request: pytest.FixtureRequest) -> Stores:
    built = with_history(
        request,
        lambda table, history: (DynamoBehaviorSourceRepository(table), DynamoBehaviorRepository(table, history)),
        lambda writes, history: (MemoryBehaviorSourceRepository(writes), MemoryBehaviorRepository(writes, history)),
    )
    sources, behaviors = built.repo
    return Stores(sources, behaviors, built.history)


def state(name: str, due_in_hours: float = 0, **fields: object) -> BehaviorSourceState:
    return BehaviorSourceState(
        name=name,
        source=SOURCE,
        next_due_at=START + timedelta(hours=due_in_hours),
        updated_at=START,
        updated_by="tests",
        **fields,  # type: ignore[arg-type]
    )


def test_a_source_is_created_once_then_changed_only_from_the_version_read(stores: Stores) -> None:
    assert stores.sources.get("avg") is None
    first = stores.sources.save(state("avg"), None)
    assert first.version == 1
    assert stores.sources.get("avg") == first
    with pytest.raises(StaleVersionError):
        stores.sources.save(state("avg"), None)  # two people creating it at once
    second = stores.sources.save(state("avg", 24), 1)
    assert (second.version, second.next_due_at) == (2, START + timedelta(hours=24))
    with pytest.raises(StaleVersionError) as raised:
        stores.sources.save(state("avg", 48), 1)  # a second tick acting on the same read
    assert raised.value.details["conflict"] == "source"


def test_due_lists_sources_whose_time_came_and_no_tick_holds_longest_due_first(stores: Stores) -> None:
    now = START + timedelta(hours=1)
    stores.sources.save(state("later", 5), None)
    stores.sources.save(state("b-due", 0.5), None)
    stores.sources.save(state("a-due", 0), None)
    stores.sources.save(state("held", 0, claimed_until=now + timedelta(minutes=5)), None)
    stores.sources.save(state("lapsed", 0.2, claimed_until=now - timedelta(minutes=1)), None)
    assert [s.name for s in stores.sources.due(now, 10)] == ["a-due", "lapsed", "b-due"]
    assert [s.name for s in stores.sources.due(now, 1)] == ["a-due"]
    assert [s.name for s in stores.sources.list_all()] == ["a-due", "b-due", "held", "lapsed", "later"]


def test_a_run_stores_its_version_its_event_and_the_next_due_time_all_or_none(stores: Stores) -> None:
    stores.sources.save(state("avg"), None)
    document = BehaviorDocument.model_validate(MINIMAL_BEHAVIOR)
    v1 = StoredBehavior(name="avg", version=1, document=document, created_at=START, created_by="people")
    stores.behaviors.put(v1, event("behavior:avg", EventKind.BEHAVIOR_PUT))
    clash = v1.model_copy(update={"created_by": "derive:s3://usage/exports/avg.csv"})
    also = [stores.behaviors.stage_put(clash), stores.history.append_action(event("behavior:avg"))]
    with pytest.raises(StaleVersionError) as raised:
        stores.sources.save(state("avg", 24), 1, also=also)  # version 1 exists: nothing lands
    assert raised.value.details["conflict"] == "other"
    assert stores.sources.get("avg").version == 1  # type: ignore[union-attr]
    v2 = v1.model_copy(update={"version": 2, "created_by": "derive"})
    also = [stores.behaviors.stage_put(v2), stores.history.append_action(event("behavior:avg"))]
    stores.sources.save(state("avg", 24), 1, also=also)
    assert stores.behaviors.get("avg").created_by == "derive"
    assert len(stores.history.list_events("behavior:avg")) == 2


def test_deleting_a_source_removes_it_and_says_whether_there_was_one(stores: Stores) -> None:
    stores.sources.save(state("avg"), None)
    assert stores.sources.delete("avg", also=[stores.history.append_action(event("behavior:avg"))])
    assert stores.sources.get("avg") is None
    assert not stores.sources.delete("avg")
    assert len(stores.history.list_events("behavior:avg")) == 1
