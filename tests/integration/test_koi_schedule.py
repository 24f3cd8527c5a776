"""Koi on the School-wide clock against a real HTTP server: every due action is called, none after a stop."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from koipond.models.behavior import BehaviorDocument
from school_container.koi import Koi, LoadTestContext
from school_container.metrics import SchoolMetrics
from school_container.timers import KoiClock
from school_container.web_api import AiohttpWebApi, NativeWebApi, ReqwestWebApi
from tests.integration.local_http import local_server

KOI = 20
# Each koi makes ~2 calls a second: a few seconds give every koi several actions.
BEHAVIOR = BehaviorDocument.model_validate(
    {
        "description": "schedule test",
        "actions": {
            "ping": {"method": "GET", "path": "/api/ping", "params": {"user": "{user.id}"}, "rate_per_hour": 3600},
            "post": {
                "method": "POST",
                "path": "/api/post",
                "body": {"channel": "{channel.id}", "text": "{random.text}"},
                "rate_per_hour": 3600,
            },
        },
        "websocket": {"enabled": False},
        "channels": {"count_per_koi": 2},
    }
)


async def swim_and_stop(
    seconds: float, client: type[AiohttpWebApi]
) -> tuple[list[tuple[str, str]], SchoolMetrics, KoiClock, int]:
    seen: list[tuple[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers.get("Authorization", "")))
        return web.json_response({"ok": True})

    async with local_server(handler, "/api/{name}") as base:
        metrics, clock, api = SchoolMetrics(), KoiClock(), client(8)
        ctx = LoadTestContext("t-sched", "ws", base, BEHAVIOR, api, metrics, 0.0, clock=clock)
        tasks = [asyncio.create_task(Koi(ctx, i, f"token-{i}").swim()) for i in range(KOI)]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=10)
        await asyncio.sleep(0.5)  # requests already on the wire when their koi stopped may still land
        calls_at_stop = len(seen)
        await asyncio.sleep(1.0)  # a koi that kept a timer or a runner would call again in this second
        late = len(seen) - calls_at_stop
        await api.close()
    return seen, metrics, clock, late


@pytest.mark.parametrize("client", [ReqwestWebApi, NativeWebApi])
def test_koi_call_on_schedule_and_stop_cleanly(client: type[AiohttpWebApi]) -> None:
    seen, metrics, clock, late = asyncio.run(swim_and_stop(4.0, client))
    assert late == 0
    assert len(clock) == 0  # every stopped koi took its entry off the School-wide clock

    def sample(name: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(name, labels) or 0.0

    joins = sample("koi_pond_school_web_api_calls_total", method="conversations.join", status="ok")
    pings = sample("koi_pond_school_web_api_calls_total", method="ping", status="ok")
    posts = sample("koi_pond_school_web_api_calls_total", method="post", status="ok")
    assert joins == KOI * 2
    # ~2 actions a second per koi for ~4 s: far from zero, and every answered one counted once on both sides.
    assert pings > KOI
    assert posts > KOI
    # Beyond those, each koi may have had its one call started (its lag counted) or even on the wire when it
    # stopped: aborted, so the server may have seen it, and no answer counts it.
    arrived = len([p for p, _ in seen if p in ("/api/ping", "/api/post")])
    assert pings + posts <= arrived <= pings + posts + KOI
    assert pings + posts <= sample("koi_pond_school_schedule_lag_seconds_count") <= pings + posts + KOI
    assert {auth for _, auth in seen} == {f"Bearer token-{i}" for i in range(KOI)}
