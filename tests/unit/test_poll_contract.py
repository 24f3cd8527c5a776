"""The poll contract: the Keeper's answer survives the wire, old JSON still parses, malformed answers fail clearly."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, cast

import httpx
import pytest
from pydantic import ValidationError

from koipond.api.poll import LoadTestSpecsRequest, LoadTestSpecsResponse, PollResponse
from koipond.models.schools import PollAnswer
from school_container.keeper_link import KeeperLink
from school_container.koi_host import KoiHost
from school_container.metrics import SchoolMetrics
from school_container.school import School
from school_container.tokens import TokenSource
from school_container.web_api import WebApi

ASSIGNMENT: dict[str, Any] = {
    "test_id": "lt-a",
    "ranges": [{"start": 0, "end": 10}, {"start": 20, "end": 25}],
    "koi": 15,
}
DOMAIN_ANSWER = PollAnswer.model_validate(
    {
        "school_id": "s1",
        "stop_all": False,
        "poll_interval_seconds": 5.0,
        "allocation_version": 3,
        "assignments": [ASSIGNMENT, {**ASSIGNMENT, "test_id": "lt-b"}],
    }
)
# What Schools read: names, order and shapes of the JSON, byte for byte.
WIRE = (
    '{"school_id":"s1","stop_all":false,"stop_reason":null,"poll_interval_seconds":5.0,"allocation_version":3,'
    '"assignments":[{"test_id":"lt-a","ranges":[{"start":0,"end":10},{"start":20,"end":25}],"koi":15},'
    '{"test_id":"lt-b","ranges":[{"start":0,"end":10},{"start":20,"end":25}],"koi":15}]}'
)
UNCHANGED_WIRE = (
    '{"school_id":"s1","stop_all":false,"stop_reason":null,"poll_interval_seconds":5.0,"allocation_version":3,'
    '"assignments":null}'
)
SPEC: dict[str, Any] = {
    "test_id": "lt-a",
    "test_name": "nightly",
    "behavior": {"name": "average_user", "version": 2},
    "target": "http://127.0.0.1:8800",
    "workspace": "pond",
    "tags": ["night"],
}


def wire_answer() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(WIRE))


def test_domain_answer_round_trips_through_the_wire() -> None:
    sent = PollResponse.from_domain(DOMAIN_ANSWER)
    received = PollResponse.model_validate_json(sent.model_dump_json())
    assert received == sent
    assert received.assignments is not None
    assert [(r.start, r.end) for r in received.assignments[1].ranges] == [(0, 10), (20, 25)]


def test_wire_json_is_the_one_schools_read() -> None:
    assert PollResponse.from_domain(DOMAIN_ANSWER).model_dump_json() == WIRE
    unchanged = DOMAIN_ANSWER.model_copy(update={"assignments": None})
    assert PollResponse.from_domain(unchanged).model_dump_json() == UNCHANGED_WIRE
    assert PollResponse.model_validate_json(UNCHANGED_WIRE).assignments is None


def test_spec_answer_round_trips_and_tolerates_new_fields() -> None:
    answer = {"specs": [{**SPEC, "formations": ["standup"]}], "missing": ["lt-gone"]}
    parsed = LoadTestSpecsResponse.model_validate(answer)
    assert parsed.specs[0].behavior.version == 2
    assert parsed.missing == ["lt-gone"]
    assert LoadTestSpecsResponse.model_validate_json(parsed.model_dump_json()) == parsed


@pytest.mark.parametrize(
    ("ids", "problem"),
    [([], "too_short"), ([f"lt-{i}" for i in range(101)], "too_long"), (["lt a"], "string_pattern_mismatch")],
)
def test_spec_request_refuses_empty_oversized_and_malformed_ids(ids: list[str], problem: str) -> None:
    with pytest.raises(ValidationError) as failure:
        LoadTestSpecsRequest(test_ids=ids)
    assert next(e["type"] for e in failure.value.errors()) == problem


def test_answer_with_fields_this_school_does_not_know_parses() -> None:
    answer = wire_answer()
    answer["formations"] = [{"name": "standup"}]
    answer["assignments"][0]["token_location"] = "s3://bucket/shard"
    answer["assignments"][0]["ranges"][0]["weight"] = 1
    parsed = PollResponse.model_validate(answer)
    assert parsed == PollResponse.model_validate_json(WIRE)


def _without_stop_all(answer: dict[str, Any]) -> None:
    del answer["stop_all"]


def _ranges_renamed(answer: dict[str, Any]) -> None:
    answer["assignments"][0]["koi_ranges"] = answer["assignments"][0].pop("ranges")


def _koi_missing(answer: dict[str, Any]) -> None:
    del answer["assignments"][1]["koi"]


def _empty_range(answer: dict[str, Any]) -> None:
    answer["assignments"][0]["ranges"][1] = {"start": 25, "end": 20}


@pytest.mark.parametrize(
    ("break_it", "where"),
    [
        (_without_stop_all, ("stop_all",)),
        (_ranges_renamed, ("assignments", 0, "ranges")),
        (_koi_missing, ("assignments", 1, "koi")),
        (_empty_range, ("assignments", 0, "ranges", 1)),
    ],
)
def test_malformed_answer_fails_naming_the_field(break_it: Any, where: tuple[str | int, ...]) -> None:
    answer = wire_answer()
    break_it(answer)
    with pytest.raises(ValidationError) as failure:
        PollResponse.model_validate(answer)
    assert [error["loc"] for error in failure.value.errors()] == [where]


class ScriptedKeeper:
    """Answers each poll with the next body of a script, and keeps the requests it was sent."""

    def __init__(self, *bodies: bytes) -> None:
        self._bodies = list(bodies)
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(json.loads(request.content))
        return httpx.Response(200, content=self._bodies.pop(0), headers={"content-type": "application/json"})


def school_against(keeper: ScriptedKeeper) -> tuple[School, KeeperLink, SchoolMetrics]:
    link = KeeperLink("http://keeper.test", "school-token", "s1", transport=httpx.MockTransport(keeper))
    metrics = SchoolMetrics()
    # Neither koi traffic nor tokens are reached: no poll here assigns a koi.
    host = KoiHost(cast(WebApi, None), cast(TokenSource, None), metrics, 0.0)
    school = School(link, host, metrics, 800, 60.0)
    return school, link, metrics


def polls(metrics: SchoolMetrics, outcome: str) -> float | None:
    return metrics.registry.get_sample_value("koi_pond_school_keeper_polls_total", {"outcome": outcome})


def test_school_counts_a_malformed_answer_as_a_failed_poll_naming_the_field(caplog: pytest.LogCaptureFixture) -> None:
    answer = wire_answer()
    del answer["stop_all"]
    school, link, metrics = school_against(ScriptedKeeper(json.dumps(answer).encode()))

    async def poll() -> None:
        await school.poll_once()
        await link.close()

    with caplog.at_level(logging.WARNING, logger="koipond.school"):
        asyncio.run(poll())
    assert (polls(metrics, "failed"), polls(metrics, "ok")) == (1.0, None)
    assert link.failures == 1
    assert not school.ready.is_set()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "koipond.school"]
    assert "invalid PollResponse: stop_all: Field required" in line


def test_school_reports_in_the_request_shape_and_obeys_the_next_good_answer() -> None:
    answer = wire_answer()
    answer.update(poll_interval_seconds=2.5, assignments=[])
    keeper = ScriptedKeeper(b"not json", json.dumps(answer).encode())
    school, link, metrics = school_against(keeper)

    async def poll_twice() -> None:
        await school.poll_once()
        await school.poll_once()
        await link.close()

    asyncio.run(poll_twice())
    assert keeper.requests == [{"capacity": 800, "running": {}, "known_version": None}] * 2
    assert (polls(metrics, "failed"), polls(metrics, "ok")) == (1.0, 1.0)
    assert link.failures == 0
    assert school.ready.is_set()
    assert school.interval == 2.5


def test_school_names_the_assignment_it_runs_and_keeps_it_while_unchanged() -> None:
    empty = wire_answer()
    empty.update(assignments=[], allocation_version=7)
    unchanged = json.loads(UNCHANGED_WIRE)
    unchanged.update(allocation_version=7)
    stop = {**unchanged, "stop_all": True, "stop_reason": "emergency stop: drill", "assignments": []}
    keeper = ScriptedKeeper(*(json.dumps(a).encode() for a in (empty, unchanged, stop, empty)))
    school, link, _ = school_against(keeper)

    async def poll(times: int) -> None:
        for _ in range(times):
            await school.poll_once()
        await link.close()

    asyncio.run(poll(4))
    # Full answer, then "unchanged" for the stamp it named; a stop forgets it, so the next poll asks anew.
    assert [r["known_version"] for r in keeper.requests] == [None, 7, 7, None]
