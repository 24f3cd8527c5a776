"""The guard repository's contract, over DynamoDB and in memory: queries, their history, evaluations, seeding."""

from __future__ import annotations

import pytest

from koipond.errors import NotFoundError
from koipond.memory.guard import MemoryGuardRepository
from koipond.models.guard import Comparator, Evaluation, GuardQuery, Outcome
from koipond.models.history import EventKind
from koipond.services.ports.guard import GuardRepository
from koipond.store.guard import DynamoGuardRepository
from tests.conftest import START
from tests.contract.fixtures_repositories import FLAVOURS, WithHistory, event, with_history


@pytest.fixture(params=FLAVOURS)
def guard(request: pytest.FixtureRequest) -> WithHistory[GuardRepository]:
    return with_history(request, DynamoGuardRepository, MemoryGuardRepository)


def query(label: str, threshold: float = 1.0) -> GuardQuery:
    return GuardQuery(label=label, query="up", threshold=threshold, comparator=Comparator.GREATER_THAN)


def evaluation(label: str, value: float = 2.0) -> Evaluation:
    return Evaluation(label=label, at=START, outcome=Outcome.BREACH, value=value, samples=3)


def test_a_stored_query_is_read_back_and_its_event_appended(guard: WithHistory[GuardRepository]) -> None:
    put = event("guard:errors", EventKind.GUARD_QUERY_PUT)
    guard.repo.put_query(query("errors"), put)
    assert guard.repo.get_query("errors") == query("errors")
    assert guard.history.list_events("guard:errors") == [put]


def test_putting_a_query_again_replaces_it(guard: WithHistory[GuardRepository]) -> None:
    guard.repo.put_query(query("errors"), event("g"))
    guard.repo.put_query(query("errors", threshold=5.0), event("g"))
    assert guard.repo.get_query("errors").threshold == 5.0
    assert len(guard.repo.list_queries()) == 1


def test_queries_are_listed_by_label(guard: WithHistory[GuardRepository]) -> None:
    for label in ("latency", "errors", "saturation"):
        guard.repo.put_query(query(label), event("g"))
    assert [q.label for q in guard.repo.list_queries()] == ["errors", "latency", "saturation"]


def test_an_unknown_label_is_not_found(guard: WithHistory[GuardRepository]) -> None:
    with pytest.raises(NotFoundError):
        guard.repo.get_query("nope")
    with pytest.raises(NotFoundError):
        guard.repo.delete_query("nope", event("g"))
    assert guard.history.list_events("g") == []


def test_deleting_a_query_removes_it_and_its_evaluation_with_an_event(guard: WithHistory[GuardRepository]) -> None:
    guard.repo.put_query(query("errors"), event("g"))
    guard.repo.save_evaluation(evaluation("errors"))
    deleted = event("g", EventKind.GUARD_QUERY_DELETED)
    guard.repo.delete_query("errors", deleted)
    assert guard.repo.list_queries() == []
    assert guard.repo.last_evaluations(["errors"]) == {}
    assert guard.history.list_events("g")[-1] == deleted


def test_defaults_are_marked_seeded_once_only(guard: WithHistory[GuardRepository]) -> None:
    assert guard.repo.mark_defaults_seeded()
    assert not guard.repo.mark_defaults_seeded()


def test_the_last_evaluation_of_each_label_is_kept(guard: WithHistory[GuardRepository]) -> None:
    guard.repo.save_evaluation(evaluation("errors", 1.0))
    guard.repo.save_evaluation(evaluation("errors", 7.0))
    guard.repo.save_evaluation(evaluation("latency", 3.0))
    found = guard.repo.last_evaluations(["errors", "latency", "never"])
    assert found == {"errors": evaluation("errors", 7.0), "latency": evaluation("latency", 3.0)}
    assert guard.repo.last_evaluations([]) == {}


def test_an_infinite_value_survives_storage(guard: WithHistory[GuardRepository]) -> None:
    guard.repo.save_evaluation(evaluation("latency", float("inf")))
    assert guard.repo.last_evaluations(["latency"])["latency"].value == float("inf")
