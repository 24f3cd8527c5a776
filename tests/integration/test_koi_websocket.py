"""A koi whose target refuses or breaks its websocket counts it, keeps calling, and reconnects with backoff."""

from __future__ import annotations

import asyncio

from aiohttp import web

from koipond.models.behavior import BehaviorDocument
from school_container.koi import Koi, LoadTestContext
from school_container.metrics import SchoolMetrics
from school_container.web_api import ReqwestWebApi
from school_container.websocket_frames import TEXT
from tests.integration.local_http import local_server
from tests.unit.test_websocket_frames import server_frame

BEHAVIOR = BehaviorDocument.model_validate(
    {
        "description": "websocket failure test",
        "actions": {"ping": {"method": "GET", "path": "/api/ping", "rate_per_hour": 7200}},
        "websocket": {"enabled": True, "path": "/ws", "reconnect_min_seconds": 0.05, "reconnect_max_seconds": 0.2},
        "channels": {"count_per_koi": 1},
    }
)


async def swim_against(websocket: web.Handler, seconds: float = 1.5) -> tuple[SchoolMetrics, bool]:
    """Run one koi against a server whose /ws is ``websocket``; its metrics, and whether it still swam."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/ws":
            return await websocket(request)
        return web.json_response({"ok": True})

    async with local_server(handler, "/{path:.*}") as base:
        metrics, api = SchoolMetrics(), ReqwestWebApi(4)
        koi = asyncio.create_task(Koi(LoadTestContext("t-ws", "ws", base, BEHAVIOR, api, metrics, 0.0), 1, "tk").swim())
        await asyncio.sleep(seconds)
        swimming = not koi.done()
        koi.cancel()
        await asyncio.wait([koi], timeout=5)
        await api.close()
    return metrics, swimming


def sample(metrics: SchoolMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_a_refused_upgrade_is_a_connect_failure_retried_with_backoff() -> None:
    async def not_a_websocket(_: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    metrics, swimming = asyncio.run(swim_against(not_a_websocket))
    assert swimming
    failures = sample(metrics, "koi_pond_school_websocket_connect_failures_total")
    # Backoff between 0.05 s and 0.2 s over 1.5 s: several tries, but not a tight loop.
    assert 3 <= failures <= 40
    assert sample(metrics, "koi_pond_school_websocket_connects_total") == 0
    assert sample(metrics, "koi_pond_school_web_api_calls_total", method="ping", status="ok") > 0


def test_garbage_on_the_socket_is_counted_and_the_koi_reconnects() -> None:
    async def garbage_then_broken(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        assert request.transport is not None
        # Not JSON, then a masked frame, which a server must never send: the koi drops the line.
        request.transport.write(server_frame(TEXT, b"not json") + server_frame(TEXT, b"{}", mask=b"abcd"))
        await ws.receive()  # the koi's close
        return ws

    metrics, swimming = asyncio.run(swim_against(garbage_then_broken))
    assert swimming
    connects = sample(metrics, "koi_pond_school_websocket_connects_total")
    assert connects >= 3
    assert sample(metrics, "koi_pond_school_websocket_disconnects_total") >= connects - 1
    assert sample(metrics, "koi_pond_school_websocket_events_total", type="malformed") >= connects - 1
    assert sample(metrics, "koi_pond_school_websocket_connections") in (0, 1)
    assert sample(metrics, "koi_pond_school_web_api_calls_total", method="ping", status="ok") > 0
