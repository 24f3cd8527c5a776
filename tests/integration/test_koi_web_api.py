"""The koi's HTTP client against misbehaving servers: every failure is classified, none escapes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from koipond.pond.processes import free_port
from school_container.web_api import AiohttpWebApi, CallOutcome, classify


async def call_server(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> CallOutcome:
    app = web.Application()
    app.router.add_route("*", "/api/x", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    api = AiohttpWebApi(max_connections=4)
    try:
        return await api.call("POST", f"http://127.0.0.1:{port}/api/x", "t", None, {"a": 1})
    finally:
        await api.close()
        await runner.cleanup()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"ok": true}', "ok"),
        (200, b'{"ok": false, "error": "invalid_auth"}', "api_error"),
        (200, b"<html>not json</html>", "bad_response"),
        (429, b"", "http_429"),
        (404, b"{}", "http_4xx"),
        (503, b"", "http_5xx"),
    ],
)
def test_answers_are_classified(status: int, body: bytes, expected: str) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type="application/json")

    assert asyncio.run(call_server(handler)).status == expected


def test_a_refused_connection_is_a_connect_error() -> None:
    async def call() -> CallOutcome:
        api = AiohttpWebApi(max_connections=1)
        try:
            return await api.call("GET", f"http://127.0.0.1:{free_port()}/api/x", "t", None, None)
        finally:
            await api.close()

    assert asyncio.run(call()).status == "connect_error"


def test_a_connection_reset_mid_answer_is_a_connect_error() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    assert asyncio.run(call_server(handler)).status == "connect_error"


def test_classify_prefers_http_status_over_body() -> None:
    assert classify(500, {"ok": True}) == "http_5xx"
    assert classify(200, {"no_ok_field": 1}) == "ok"
