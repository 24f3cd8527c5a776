"""A koi's call is measured from its scheduled time: a late start shows as lag and as latency, never hidden."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from koipond.models.behavior import BehaviorDocument
from koipond.services.scheduling import ScheduledAction
from school_container.koi import Koi, LoadTestContext
from school_container.metrics import SchoolMetrics
from school_container.web_api import CallOutcome
from school_container.websocket import KoiSocket, OnMessage

BEHAVIOR = BehaviorDocument.model_validate(
    {
        "description": "one call",
        "actions": {"ping": {"method": "GET", "path": "/api/ping", "rate_per_hour": 60}},
        "websocket": {"enabled": False},
        "channels": {"count_per_koi": 0},
    }
)


class AnsweringApi:
    """Answers every call at once, ok, and remembers what was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def call(
        self, method: str, url: str, token: str, params: Mapping[str, str] | None, body: Any | None
    ) -> CallOutcome:
        self.calls.append((method, url))
        return CallOutcome("ok", 200, {"ok": True})

    async def open_websocket(self, url: str, token: str, heartbeat: float, on_message: OnMessage) -> KoiSocket:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def test_a_call_started_late_counts_its_lateness_as_lag_and_latency() -> None:
    metrics, api = SchoolMetrics(), AnsweringApi()

    async def scenario() -> None:
        koi = Koi(LoadTestContext("t-lat", "ws", "http://target", BEHAVIOR, api, metrics, 0.0), 3, "tok")
        now = time.time()
        await koi._perform(ScheduledAction(at=now - 5.0, action="ping"), now)

    asyncio.run(scenario())
    sample = metrics.registry.get_sample_value
    assert api.calls == [("GET", "http://target/api/ping")]
    assert sample("koi_pond_school_web_api_calls_total", {"method": "ping", "status": "ok"}) == 1
    assert (sample("koi_pond_school_web_api_call_duration_seconds_sum", {"method": "ping"}) or 0) >= 5.0
    assert sample("koi_pond_school_web_api_call_duration_seconds_bucket", {"method": "ping", "le": "2.5"}) == 0
    assert sample("koi_pond_school_schedule_lag_seconds_sum") == 5.0  # started when it was given, 5 s late
    assert sample("koi_pond_school_schedule_lag_seconds_bucket", {"le": "2.5"}) == 0
