"""The behavior repository's contract, over DynamoDB and in memory: immutable versions, latest, conflicts."""

from __future__ import annotations

import pytest

from koipond.errors import BadRequestError, ConflictError, NotFoundError
from koipond.memory.behaviors import MemoryBehaviorRepository
from koipond.models.behavior import BehaviorDocument, StoredBehavior
from koipond.models.cursors import encode_cursor
from koipond.models.history import EventKind
from koipond.services.ports.behaviors import BehaviorRepository
from koipond.store.behaviors import DynamoBehaviorRepository
from tests.conftest import MINIMAL_BEHAVIOR, START
from tests.contract.fixtures_repositories import FLAVOURS, WithHistory, event, with_history

DOCUMENT = BehaviorDocument.model_validate(MINIMAL_BEHAVIOR)


@pytest.fixture(params=FLAVOURS)
def behaviors(request: pytest.FixtureRequest) -> WithHistory[BehaviorRepository]:
    return with_history(request, DynamoBehaviorRepository, MemoryBehaviorRepository)


def behavior(name: str, version: int, by: str = "tests") -> StoredBehavior:
    return StoredBehavior(name=name, version=version, document=DOCUMENT, created_at=START, created_by=by)


def put(repo: BehaviorRepository, name: str, version: int) -> None:
    repo.put(behavior(name, version), event(f"behavior:{name}", EventKind.BEHAVIOR_PUT))


def test_a_behavior_never_stored_has_no_latest_and_is_not_found(behaviors: WithHistory[BehaviorRepository]) -> None:
    assert behaviors.repo.latest("nope") is None
    assert behaviors.repo.list_latest() == []
    with pytest.raises(NotFoundError):
        behaviors.repo.get("nope")


def test_every_version_is_kept_and_the_highest_is_latest(behaviors: WithHistory[BehaviorRepository]) -> None:
    for version in (1, 2, 3):
        put(behaviors.repo, "avg", version)
    assert behaviors.repo.latest("avg") == behavior("avg", 3)
    assert behaviors.repo.get("avg") == behavior("avg", 3)
    assert behaviors.repo.get("avg", 1) == behavior("avg", 1)
    with pytest.raises(NotFoundError):
        behaviors.repo.get("avg", 4)


def test_versions_are_ordered_by_number_not_text(behaviors: WithHistory[BehaviorRepository]) -> None:
    for version in (9, 10):
        put(behaviors.repo, "avg", version)
    latest = behaviors.repo.latest("avg")
    assert latest is not None
    assert latest.version == 10


def test_list_latest_holds_each_name_once_at_its_latest_version_by_name(
    behaviors: WithHistory[BehaviorRepository],
) -> None:
    for name, version in [("b", 1), ("a", 1), ("b", 2), ("a-b", 1)]:
        put(behaviors.repo, name, version)
    assert [(b.name, b.version) for b in behaviors.repo.list_latest()] == [("a", 1), ("a-b", 1), ("b", 2)]


def test_storing_a_version_twice_conflicts_and_keeps_the_first(behaviors: WithHistory[BehaviorRepository]) -> None:
    behaviors.repo.put(behavior("avg", 1, by="first"), event("behavior:avg"))
    with pytest.raises(ConflictError):
        behaviors.repo.put(behavior("avg", 1, by="second"), event("behavior:avg"))
    assert behaviors.repo.get("avg", 1).created_by == "first"
    assert len(behaviors.history.list_events("behavior:avg")) == 1


def test_a_put_appends_its_event(behaviors: WithHistory[BehaviorRepository]) -> None:
    appended = event("behavior:avg", EventKind.BEHAVIOR_PUT)
    behaviors.repo.put(behavior("avg", 1), appended)
    assert behaviors.history.list_events("behavior:avg") == [appended]


def all_versions(repo: BehaviorRepository, name: str, limit: int) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        versions, cursor = repo.versions_page(name, limit=limit, cursor=cursor)
        pages.append([b.version for b in versions])
        if cursor is None:
            return pages


@pytest.mark.parametrize(
    ("limit", "pages"), [(2, [[5, 4], [3, 2], [1]]), (5, [[5, 4, 3, 2, 1]]), (50, [[5, 4, 3, 2, 1]])]
)
def test_versions_are_listed_newest_first_a_page_at_a_time(
    behaviors: WithHistory[BehaviorRepository], limit: int, pages: list[list[int]]
) -> None:
    for version in range(1, 6):
        put(behaviors.repo, "avg", version)
    put(behaviors.repo, "avg-b", 1)  # a name that sorts right after: never part of avg's listing
    assert all_versions(behaviors.repo, "avg", limit) == pages


def test_a_page_holds_whole_stored_versions(behaviors: WithHistory[BehaviorRepository]) -> None:
    put(behaviors.repo, "avg", 1)
    assert behaviors.repo.versions_page("avg", limit=10) == ([behavior("avg", 1)], None)


def test_a_behavior_never_stored_lists_no_versions(behaviors: WithHistory[BehaviorRepository]) -> None:
    put(behaviors.repo, "avg", 1)
    assert behaviors.repo.versions_page("nope", limit=10) == ([], None)


def test_a_cursor_of_another_behavior_or_of_its_history_is_refused(behaviors: WithHistory[BehaviorRepository]) -> None:
    for version in (1, 2, 3):
        put(behaviors.repo, "avg", version)
        put(behaviors.repo, "other", version)
    _, cursor = behaviors.repo.versions_page("other", limit=1)
    assert cursor is not None
    history_cursor = encode_cursor("behavior:avg", "2", newest_first=True)
    for wrong in (
        cursor,
        history_cursor,
        "not-a-cursor",
        encode_cursor("behavior-versions:avg", "0", newest_first=True),
    ):
        with pytest.raises(BadRequestError, match="not valid for this behavior's versions"):
            behaviors.repo.versions_page("avg", limit=1, cursor=wrong)
