"""Fault injection decisions: validated specs, seeded and reproducible error draws, route precedence."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from slacklike_target.faults import NO_FAULT, FaultSpec, FaultTable, decide


def errors_in(table: FaultTable, method: str, calls: int) -> list[bool]:
    return [table.decide(method).error_status is not None for _ in range(calls)]


def test_the_same_seed_injects_errors_into_the_same_calls() -> None:
    first, second = FaultTable(seed=11), FaultTable(seed=11)
    for table in (first, second):
        table.put(FaultSpec(route="chat.postMessage", error_rate=0.3))
    assert errors_in(first, "chat.postMessage", 500) == errors_in(second, "chat.postMessage", 500)


def test_the_error_rate_is_honoured_over_many_calls() -> None:
    table = FaultTable(seed=3)
    table.put(FaultSpec(route="*", error_rate=0.25, status=500))
    share = sum(errors_in(table, "users.info", 10_000)) / 10_000
    assert 0.22 < share < 0.28


@given(seed=st.integers(), rate=st.sampled_from([0.0, 1.0]))
def test_rates_zero_and_one_are_never_and_always(seed: int, rate: float) -> None:
    spec = FaultSpec(route="*", error_rate=rate, added_latency_ms=1)
    rng = random.Random(seed)
    assert all((decide(spec, rng).error_status is not None) == (rate == 1.0) for _ in range(50))


def test_a_decision_carries_latency_status_and_retry_after() -> None:
    spec = FaultSpec(route="auth.test", error_rate=1.0, status=429, added_latency_ms=250, retry_after_seconds=7)
    decision = decide(spec, random.Random(0))
    assert (decision.latency_seconds, decision.error_status, decision.retry_after_seconds) == (0.25, 429, 7)


def test_a_route_fault_overrides_the_wildcard_and_other_routes_get_the_wildcard() -> None:
    table = FaultTable(seed=0)
    table.put(FaultSpec(route="*", added_latency_ms=100))
    table.put(FaultSpec(route="reactions.add", error_rate=1.0, status=503))
    assert table.decide("reactions.add").error_status == 503
    assert table.decide("reactions.add").latency_seconds == 0
    assert table.decide("users.info").latency_seconds == 0.1


def test_no_fault_without_an_active_one() -> None:
    table = FaultTable(seed=0)
    table.put(FaultSpec(route="auth.test", error_rate=1.0))
    assert table.decide("users.info") is NO_FAULT


def test_clearing_by_route_and_all() -> None:
    table = FaultTable()
    table.put(FaultSpec(route="*", error_rate=0.5))
    table.put(FaultSpec(route="websocket", added_latency_ms=10))
    assert table.clear("auth.test") == 0
    assert table.clear("websocket") == 1
    assert [fault.route for fault in table.active()] == ["*"]
    assert table.clear() == 1
    assert table.active() == []


def test_a_fault_that_does_nothing_clears_its_route_and_the_reset_is_not_stored() -> None:
    table = FaultTable()
    table.put(FaultSpec(route="*", error_rate=0.5))
    stored = table.put(FaultSpec(route="*", reset_websockets=True))
    assert stored.reset_websockets is False
    assert table.active() == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"route": "chat.postMessag"}, "unknown route 'chat.postMessag'"),
        ({"route": "*", "error_rate": 1.5}, "less than or equal to 1"),
        ({"route": "*", "error_rate": -0.1}, "greater than or equal to 0"),
        ({"route": "*", "status": 418}, "429, 500 or 503"),
        ({"route": "*", "added_latency_ms": -1}, "greater than or equal to 0"),
        ({"route": "*", "surprise": True}, "Extra inputs"),
        ({"error_rate": 0.5}, "route"),
    ],
)
def test_invalid_specs_are_refused_with_a_clear_message(body: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        FaultSpec.model_validate(body)
