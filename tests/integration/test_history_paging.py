"""A test's history through the Keeper handler: pages and cursors, expiry of high-volume events, the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from koipond.clock import FixedClock
from koipond.composition import Keeper
from koipond.models.cursors import encode_cursor
from koipond.models.history import EventKind
from koipond.notifications.store import intent_index_keys
from koipond.services.history import new_event, reallocation_details
from koipond.settings import Settings
from koipond.store.history import DynamoHistoryRepository
from koipond.store.items import history_pk
from koipond.store.schema import TTL_ATTRIBUTE
from koipond.store.table import DynamoTable
from tests.conftest import Api, new_test_body
from tests.integration.keeper_http import keeper_over_http, koipond


def scaled_test(api: Api, scales: int) -> str:
    """A test with ``scales`` scalings after its start: ``scales + 1`` events."""
    test_id = str(api.post("/v1/tests", new_test_body(koi=100)).body["id"])
    for koi in range(101, 101 + scales):
        assert api.patch(f"/v1/tests/{test_id}", {"koi": koi}).status == 200
    return test_id


def all_pages(api: Api, test_id: str, limit: int, order: str = "oldest") -> list[dict[str, Any]]:
    pages, query = [], f"limit={limit}&order={order}"
    while True:
        response = api.get(f"/v1/tests/{test_id}/events?{query}")
        assert response.status == 200, response.body
        pages.append(response.body)
        if response.body["next_cursor"] is None:
            return pages
        query = f"limit={limit}&order={order}&cursor={response.body['next_cursor']}"


@pytest.fixture
def table(keeper: Keeper, dynamodb: Any, settings: Settings) -> DynamoTable:
    return DynamoTable(dynamodb, settings.table_name)


@pytest.fixture
def history(table: DynamoTable) -> DynamoHistoryRepository:
    """The Keeper's table with a one-day retention, to write reallocations as the allocator does."""
    return DynamoHistoryRepository(table, intent_index_keys, retention_days=1)


def stored(table: DynamoTable, test_id: str) -> list[dict[str, Any]]:
    return table.query(history_pk(test_id))


def reallocate(
    table: DynamoTable, history: DynamoHistoryRepository, clock: FixedClock, test_id: str, count: int
) -> None:
    """``count`` reallocations of 1, 2, 3... koi, written 100 to a transaction."""
    events = [
        new_event(clock, test_id, EventKind.TEST_REALLOCATED, "keeper", None, reallocation_details({}, {"s": koi}))
        for koi in range(1, count + 1)
    ]
    for first in range(0, count, 100):
        table.transact([history.append_action(event) for event in events[first : first + 100]])


def at_of(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(json.loads(item["doc"])["at"])


@pytest.fixture
def queried(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The partitions the history read, page by page."""
    partitions: list[str] = []
    real = DynamoTable.query_page

    def recording(self: DynamoTable, pk: str, **kwargs: Any) -> tuple[list[dict[str, Any]], str | None]:
        partitions.append(pk)
        return real(self, pk, **kwargs)

    monkeypatch.setattr(DynamoTable, "query_page", recording)
    return partitions


@pytest.mark.parametrize("limit", [1, 4, 13, 100])
def test_pages_hold_every_event_exactly_once_in_order(api: Api, limit: int) -> None:
    test_id = scaled_test(api, 12)
    whole = api.get(f"/v1/tests/{test_id}/events").body
    assert len(whole["events"]) == 13
    assert whole["next_cursor"] is None
    pages = all_pages(api, test_id, limit)
    assert all(len(page["events"]) == limit for page in pages[:-1])
    assert len(pages) == -(-13 // limit)
    assert [e["id"] for page in pages for e in page["events"]] == [e["id"] for e in whole["events"]]


def test_newest_first_pages_walk_back_through_the_history(api: Api) -> None:
    test_id = scaled_test(api, 6)
    pages = all_pages(api, test_id, 3, order="newest")
    koi = [e["details"].get("koi") for page in pages for e in page["events"]]
    assert koi == [[105, 106], [104, 105], [103, 104], [102, 103], [101, 102], [100, 101], 100]
    assert [len(page["events"]) for page in pages] == [3, 3, 1]


def test_the_default_page_is_the_first_100_events(
    api: Api, table: DynamoTable, history: DynamoHistoryRepository, clock: FixedClock
) -> None:
    test_id = scaled_test(api, 0)
    reallocate(table, history, clock, test_id, 101)
    first = api.get(f"/v1/tests/{test_id}/events").body
    assert len(first["events"]) == 100
    assert first["events"][0]["kind"] == "test_created"
    rest = api.get(f"/v1/tests/{test_id}/events?cursor={first['next_cursor']}").body
    assert [e["details"]["koi"] for e in rest["events"]] == [100, 101]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    ["cursor=bm90IGEgY3Vyc29y", "cursor=%2A%2A", "cursor=" + "A" * 600, "limit=0", "limit=501", "order=sideways"],
)
def test_bad_paging_parameters_are_refused_as_json_before_any_read(api: Api, queried: list[str], query: str) -> None:
    test_id = scaled_test(api, 2)
    refused = api.get(f"/v1/tests/{test_id}/events?{query}")
    assert refused.status in (400, 422)
    assert "events" not in refused.body
    assert refused.body["error"]["code"] in ("bad_request", "validation_failed")
    assert queried == []


def test_a_cursor_of_another_test_is_refused_and_reads_nothing(api: Api, queried: list[str]) -> None:
    mine, theirs = scaled_test(api, 3), scaled_test(api, 3)
    their_cursor = api.get(f"/v1/tests/{theirs}/events?limit=1").body["next_cursor"]
    queried.clear()
    refused = api.get(f"/v1/tests/{mine}/events?limit=1&cursor={their_cursor}")
    assert refused.status == 400
    assert refused.body["error"]["details"] == {"parameter": "cursor"}
    assert queried == []


def test_a_cursor_of_the_other_order_is_refused(api: Api) -> None:
    test_id = scaled_test(api, 3)
    oldest_first = api.get(f"/v1/tests/{test_id}/events?limit=1").body["next_cursor"]
    refused = api.get(f"/v1/tests/{test_id}/events?limit=1&order=newest&cursor={oldest_first}")
    assert refused.status == 400
    assert refused.error_code == "bad_request"


def test_a_well_formed_cursor_only_moves_within_the_tests_own_history(api: Api, queried: list[str]) -> None:
    mine, theirs = scaled_test(api, 1), scaled_test(api, 1)
    [their_first] = api.get(f"/v1/tests/{theirs}/events?limit=1").body["events"]
    queried.clear()
    forged = encode_cursor(mine, their_first["id"], newest_first=False)
    page = api.get(f"/v1/tests/{mine}/events?cursor={forged}").body
    assert {e["subject"] for e in page["events"]} <= {mine}
    assert set(queried) == {history_pk(mine)}


def test_a_reallocation_is_written_with_its_expiry_and_a_start_without(
    api: Api, table: DynamoTable, history: DynamoHistoryRepository, clock: FixedClock
) -> None:
    test_id = scaled_test(api, 0)
    details = reallocation_details({}, {"school-1": 100})
    history.append(new_event(clock, test_id, EventKind.TEST_REALLOCATED, "keeper", "koi assigned to school-1", details))
    created, moved = stored(table, test_id)
    assert TTL_ATTRIBUTE not in created
    assert moved[TTL_ATTRIBUTE] == int((at_of(moved) + timedelta(days=1)).timestamp())


def test_a_polls_reallocation_expires_after_the_default_retention(api: Api, table: DynamoTable) -> None:
    test_id = scaled_test(api, 0)
    assert api.post("/v1/schools/school-1/poll", {"capacity": 5000}).status == 200
    by_kind = {json.loads(item["doc"])["kind"]: item for item in stored(table, test_id)}
    moved = by_kind[EventKind.TEST_REALLOCATED]
    assert moved[TTL_ATTRIBUTE] == int((at_of(moved) + timedelta(days=30)).timestamp())
    assert TTL_ATTRIBUTE not in by_kind[EventKind.TEST_CREATED]


def test_expired_events_are_hidden_before_dynamodb_deletes_them(
    api: Api, keeper: Keeper, table: DynamoTable, history: DynamoHistoryRepository, clock: FixedClock
) -> None:
    test_id = scaled_test(api, 0)
    reallocate(table, history, clock, test_id, 5)
    assert len(api.get(f"/v1/tests/{test_id}/events").body["events"]) == 6
    clock.advance(timedelta(days=1, seconds=1).total_seconds())
    assert api.patch(f"/v1/tests/{test_id}", {"koi": 200}).status == 200
    assert len(stored(table, test_id)) == 7  # still stored: TTL deletion lags
    pages = all_pages(api, test_id, 1)
    assert [e["kind"] for page in pages for e in page["events"]] == ["test_created", "test_scaled"]
    assert len(pages) == 2
    assert [e.kind for e in keeper.tests.events(test_id)] == ["test_created", "test_scaled"]


@pytest.fixture
def keeper_url(api: Api) -> Iterator[str]:
    with keeper_over_http() as url:
        yield url


def test_show_prints_the_newest_events_and_how_to_see_the_rest(api: Api, keeper_url: str) -> None:
    test_id = scaled_test(api, 30)
    shown = koipond(keeper_url, "test", "show", test_id, "--events", "5")
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "[129, 130]" in text
    assert "[125, 126]" in text
    assert "[124, 125]" not in text
    assert f"koipond test events {test_id}" in text
    as_json = json.loads(koipond(keeper_url, "--json", "test", "show", test_id, "--events", "3").stdout)
    assert [e["details"]["koi"] for e in as_json["events"]] == [[127, 128], [128, 129], [129, 130]]
    assert as_json["more_events"] is True


def test_show_says_nothing_more_when_every_event_is_shown(api: Api, keeper_url: str) -> None:
    test_id = scaled_test(api, 2)
    as_json = json.loads(koipond(keeper_url, "--json", "test", "show", test_id).stdout)
    assert [e["kind"] for e in as_json["events"]] == ["test_created", "test_scaled", "test_scaled"]
    assert as_json["more_events"] is False


def test_events_verb_follows_every_cursor(
    api: Api, keeper_url: str, table: DynamoTable, history: DynamoHistoryRepository, clock: FixedClock
) -> None:
    test_id = scaled_test(api, 0)
    reallocate(table, history, clock, test_id, 501)  # more than the largest page
    listed = json.loads(koipond(keeper_url, "--json", "test", "events", test_id).stdout)
    assert len(listed) == 502
    assert listed[0]["kind"] == "test_created"
    assert [e["details"]["koi"] for e in listed[1:]] == list(range(1, 502))
