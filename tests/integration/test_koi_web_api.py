"""The koi's HTTP client against misbehaving servers: every failure is classified, none escapes."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from local_pond.processes import free_port
from school_container.web_api import AiohttpWebApi, CallOutcome, NativeWebApi, ReqwestWebApi, classify
from tests.integration.local_http import Handler, local_server

# The clients behind the koi's WebApi: the School's (pyreqwest), its own (native), and aiohttp before them.
CLIENTS = pytest.mark.parametrize("client", [ReqwestWebApi, NativeWebApi, AiohttpWebApi])


async def call_server(handler: Handler, client: type[AiohttpWebApi] = ReqwestWebApi) -> CallOutcome:
    async with local_server(handler) as base:
        api = client(max_connections=4)
        try:
            return await api.call("POST", f"{base}/api/x", "t", None, {"a": 1})
        finally:
            await api.close()


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
@CLIENTS
def test_answers_are_classified(client: type[AiohttpWebApi], status: int, body: bytes, expected: str) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type="application/json")

    assert asyncio.run(call_server(handler, client)).status == expected


@CLIENTS
def test_the_call_sends_token_params_and_json_body(client: type[AiohttpWebApi]) -> None:
    seen: dict[str, object] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(auth=request.headers.get("Authorization"), query=dict(request.query), body=await request.json())
        return web.json_response({"ok": True, "messages": [{"ts": "1.5"}]})

    async def call() -> CallOutcome:
        async with local_server(handler) as base:
            api = client(max_connections=2)
            try:
                return await api.call("POST", f"{base}/api/x", "tok", {"channel": "C1"}, {"a": [1]})
            finally:
                await api.close()

    outcome = asyncio.run(call())
    assert outcome == CallOutcome("ok", 200, {"ok": True, "messages": [{"ts": "1.5"}]})
    assert seen == {"auth": "Bearer tok", "query": {"channel": "C1"}, "body": {"a": [1]}}


@CLIENTS
def test_a_refused_connection_is_a_connect_error(client: type[AiohttpWebApi]) -> None:
    async def call() -> CallOutcome:
        api = client(max_connections=1)
        try:
            return await api.call("GET", f"http://127.0.0.1:{free_port()}/api/x", "t", None, None)
        finally:
            await api.close()

    assert asyncio.run(call()).status == "connect_error"


@CLIENTS
def test_a_connection_reset_mid_answer_is_a_connect_error(client: type[AiohttpWebApi]) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    assert asyncio.run(call_server(handler, client)).status == "connect_error"


@CLIENTS
def test_a_call_past_its_timeout_is_a_timeout(client: type[AiohttpWebApi]) -> None:
    release = asyncio.Event()

    async def handler(_: web.Request) -> web.Response:
        await release.wait()  # never answers within the call's timeout
        return web.Response()

    async def call() -> CallOutcome:
        async with local_server(handler) as base:
            api = client(max_connections=1, timeout_seconds=0.2)
            try:
                return await api.call("GET", f"{base}/api/x", "t", None, None)
            finally:
                release.set()
                await api.close()

    assert asyncio.run(call()).status == "timeout"


def test_classify_prefers_http_status_over_body() -> None:
    assert classify(500, {"ok": True}) == "http_5xx"
    assert classify(200, {"no_ok_field": 1}) == "ok"


@CLIENTS
def test_a_call_cancelled_mid_request_ends_as_a_cancel_not_as_a_failed_call(client: type[AiohttpWebApi]) -> None:
    """A koi stopped while its request is in flight must stop, not count a failure and carry on."""
    arrived = asyncio.Event()

    async def handler(_: web.Request) -> web.Response:
        arrived.set()
        await asyncio.sleep(30)
        return web.json_response({"ok": True})

    async def scenario() -> BaseException | CallOutcome:
        async with local_server(handler) as base:
            api = client(max_connections=2)
            task = asyncio.create_task(api.call("POST", f"{base}/api/x", "t", None, {"a": 1}))
            try:
                await asyncio.wait_for(arrived.wait(), 10)
                task.cancel()
                done, _ = await asyncio.wait([task], timeout=10)
                assert done, "the cancelled call did not end"
                return task.exception() if not task.cancelled() else asyncio.CancelledError()
            finally:
                await api.close()

    assert isinstance(asyncio.run(scenario()), asyncio.CancelledError)
