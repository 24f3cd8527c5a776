"""Pure domain rules: active koi under shedding, clipping an allocation, durations, API Gateway events."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from koipond.models.durations import format_duration, parse_duration
from koipond.models.tests import BehaviorRef, LoadTest, LoadTestStatus
from local_pond.lambda_http import build_event

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def a_test(koi: int, shed: float, status: LoadTestStatus = LoadTestStatus.RUNNING) -> LoadTest:
    return LoadTest(
        id="lt-1", name="n", target="http://t", behavior=BehaviorRef(name="b", version=1), workspace="w",
        koi=koi, shed_percent=shed, status=status, created_at=NOW, created_by="me", updated_at=NOW,
    )  # fmt: skip


@given(st.integers(0, 10_000_000), st.floats(0, 100))
def test_shedding_never_adds_koi_and_full_shed_stops_all(koi: int, shed: float) -> None:
    active = a_test(koi, shed).active_koi
    assert 0 <= active <= koi
    assert a_test(koi, 100).active_koi == 0
    assert a_test(koi, 0).active_koi == koi


@given(st.integers(0, 100_000), st.floats(0, 100), st.floats(0, 100))
def test_more_shedding_never_means_more_koi(koi: int, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert a_test(koi, high).active_koi <= a_test(koi, low).active_koi


def test_stopped_test_wants_no_koi() -> None:
    assert a_test(500, 0, LoadTestStatus.STOPPED).active_koi == 0


def test_shed_half_of_2000_leaves_1000() -> None:
    assert a_test(2000, 50).active_koi == 1000


@given(st.integers(0, 10**7))
def test_formatted_durations_parse_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_durations_as_people_write_them() -> None:
    assert [parse_duration(t) for t in ("90s", "10m", "2h", "1h30m", "7d", "1w", "45")] == [
        90, 600, 7200, 5400, 604800, 604800, 45,
    ]  # fmt: skip


def test_event_has_the_api_gateway_v2_shape() -> None:
    event = build_event(
        "POST",
        "/v1/tests?status=running&tag=a&tag=b",
        {"host": "h", "cookie": "a=1; b=2", "content-type": "application/json"},
        b"{}",
        "10.0.0.1",
    )
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/v1/tests"
    assert event["rawQueryString"] == "status=running&tag=a&tag=b"
    assert event["queryStringParameters"] == {"status": "running", "tag": "a,b"}
    assert event["requestContext"]["http"] == {
        "method": "POST", "path": "/v1/tests", "protocol": "HTTP/1.1", "sourceIp": "10.0.0.1", "userAgent": "",
    }  # fmt: skip
    assert event["cookies"] == ["a=1", "b=2"]
    assert json.loads(event["body"]) == {}
    assert event["isBase64Encoded"] is False


def test_binary_body_is_base64_encoded() -> None:
    event = build_event("PUT", "/x", {"content-type": "application/octet-stream"}, b"\x00\xff", "127.0.0.1")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xff"
