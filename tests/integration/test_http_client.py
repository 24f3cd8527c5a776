"""The School's own HTTP/1.1 client against real servers: the bundled target, aiohttp, raw sockets, nginx."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvloop
import yaml
from aiohttp import web

from koipond.models.behavior import BehaviorDocument
from local_pond.processes import free_port
from school_container.http1 import Response
from school_container.http_client import CallTimeoutError, ConnectError, HttpClient
from school_container.koi import Koi, LoadTestContext
from school_container.metrics import SchoolMetrics
from school_container.web_api import NativeWebApi
from tests.integration.local_http import local_server
from tests.integration.target_harness import Target, run_target

ROOT = Path(__file__).resolve().parents[2]
ANSWER = b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok":true}'


@asynccontextmanager
async def raw_server(close_idle_after: float | None) -> AsyncIterator[tuple[str, list[int]]]:
    """A keep-alive server that answers every request; ``accepted[0]`` counts connections.

    With ``close_idle_after``, it closes a connection that stays idle that long after an answer.
    """
    accepted = [0]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        try:
            while True:
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), close_idle_after)
                writer.write(ANSWER)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    port = free_port()
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        yield f"http://127.0.0.1:{port}", accepted


def test_sequential_calls_reuse_one_keep_alive_connection() -> None:
    async def scenario() -> tuple[list[int], int]:
        async with raw_server(None) as (base, accepted):
            client = HttpClient(4, total_seconds=5)
            statuses = [(await client.request("GET", f"{base}/x", {})).status for _ in range(20)]
            client.close()
            return statuses, accepted[0]

    statuses, connections = uvloop.run(scenario())
    assert statuses == [200] * 20
    assert connections == 1


def test_concurrent_calls_open_no_more_connections_than_the_pool_allows() -> None:
    async def scenario() -> int:
        async with raw_server(None) as (base, accepted):
            client = HttpClient(3, total_seconds=5)
            answers = await asyncio.gather(*(client.request("GET", f"{base}/x", {}) for _ in range(60)))
            assert {answer.body for answer in answers} == {b'{"ok":true}'}
            client.close()
            return accepted[0]

    assert 1 <= uvloop.run(scenario()) <= 3


def test_a_connection_the_server_closed_while_idle_is_replaced_not_failed() -> None:
    async def scenario() -> tuple[list[int], int]:
        async with raw_server(close_idle_after=0.05) as (base, accepted):
            client = HttpClient(1, total_seconds=5)
            statuses = []
            for _ in range(3):
                statuses.append((await client.request("GET", f"{base}/x", {})).status)
                await asyncio.sleep(0.15)  # the server has closed the idle line meanwhile
            client.close()
            return statuses, accepted[0]

    statuses, connections = uvloop.run(scenario())
    assert statuses == [200, 200, 200]
    assert connections == 3


def test_a_request_sent_as_the_server_closes_the_line_is_retried_once_on_a_fresh_one() -> None:
    """The keep-alive race: the server's close and our request cross; nothing was answered, so retry."""

    async def scenario() -> tuple[int, int]:
        accepted = [0]

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted[0] += 1
            await reader.readuntil(b"\r\n\r\n")
            writer.write(ANSWER)
            await reader.readuntil(b"\r\n\r\n")  # the second request on this line is dropped unanswered
            writer.close()

        port = free_port()
        async with await asyncio.start_server(serve, "127.0.0.1", port):
            client = HttpClient(1, total_seconds=5)
            await client.request("GET", f"http://127.0.0.1:{port}/x", {})
            second = await client.request("GET", f"http://127.0.0.1:{port}/x", {})
            client.close()
            return second.status, accepted[0]

    assert uvloop.run(scenario()) == (200, 2)


def test_a_refused_connection_is_a_connect_error_and_a_silent_server_a_timeout() -> None:
    async def scenario() -> None:
        client = HttpClient(2, total_seconds=0.3)
        with pytest.raises(ConnectError) as refused:
            await client.request("GET", f"http://127.0.0.1:{free_port()}/x", {})
        assert refused.value.status == "connect_error"

        async def silent(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
            await reader.read()

        port = free_port()
        async with await asyncio.start_server(silent, "127.0.0.1", port):
            with pytest.raises(CallTimeoutError) as late:
                await client.request("GET", f"http://127.0.0.1:{port}/x", {})
        assert late.value.status == "timeout"
        client.close()

    uvloop.run(scenario())


@pytest.mark.parametrize("status", [429, 500, 503])
def test_error_statuses_come_back_as_answers(status: int) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=status, text="busy")

    async def scenario() -> Response:
        async with local_server(handler) as base:
            client = HttpClient(2, total_seconds=5)
            try:
                return await client.request("POST", f"{base}/api/x", {}, b"{}")
            finally:
                client.close()

    answer = uvloop.run(scenario())
    assert (answer.status, answer.body) == (status, b"busy")


def test_chunked_and_large_answers_from_aiohttp_arrive_whole() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, streamed in chunks

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for at in range(0, len(payload), 65_536):
            await response.write(payload[at : at + 65_536])
        await response.write_eof()
        return response

    async def scenario() -> Response:
        async with local_server(handler) as base:
            client = HttpClient(2, total_seconds=5)
            try:
                return await client.request("GET", f"{base}/api/x", {})
            finally:
                client.close()

    assert uvloop.run(scenario()).body == payload


def test_the_bundled_target_answers_native_calls() -> None:
    async def scenario(target: Target) -> None:
        api = NativeWebApi(4)
        base = str(target.client.make_url("")).rstrip("/")
        try:
            posted = await api.call(
                "POST", f"{base}/api/chat.postMessage", target.token(1), None, {"channel": "C000001", "text": "hi"}
            )
            refused = await api.call("POST", f"{base}/api/auth.test", "not-a-token", None, None)
        finally:
            await api.close()
        assert posted.status == "ok", posted
        assert posted.body is not None
        assert posted.body["ts"]
        assert refused.status in ("api_error", "http_4xx")

    run_target(scenario, seed=None)


def test_a_koi_swims_against_the_bundled_target_on_the_native_client() -> None:
    behavior = BehaviorDocument.model_validate(yaml.safe_load((ROOT / "behaviors" / "average_user.yaml").read_text()))
    faster = behavior.model_copy(
        update={"actions": {n: a.model_copy(update={"rate_per_hour": 7200}) for n, a in behavior.actions.items()}}
    )

    async def scenario(target: Target) -> None:
        metrics, api = SchoolMetrics(), NativeWebApi(8)
        base = str(target.client.make_url("")).rstrip("/")
        context = LoadTestContext("t-native", "pond", base, faster, api, metrics, 0.0)
        koi = asyncio.create_task(Koi(context, 1, target.token(1)).swim())
        await asyncio.sleep(2.0)
        assert not koi.done()
        koi.cancel()
        await asyncio.wait([koi], timeout=5)
        await api.close()
        samples = [
            s for m in metrics.registry.collect() for s in m.samples if s.name == "koi_pond_school_web_api_calls_total"
        ]
        by_status: dict[str, float] = {}
        for sample in samples:
            by_status[sample.labels["status"]] = by_status.get(sample.labels["status"], 0) + sample.value
        assert by_status.get("ok", 0) > 0, by_status
        assert by_status.get("connect_error", 0) == 0, by_status
        assert by_status.get("bad_response", 0) == 0, by_status

    run_target(scenario, seed=None)


NGINX = shutil.which("nginx")


@pytest.mark.skipif(NGINX is None, reason="nginx is not on PATH on this machine (install it to run this test)")
def test_keep_alive_calls_against_nginx() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as prefix:
        conf = Path(prefix) / "nginx.conf"
        conf.write_text(
            f"daemon off; pid {prefix}/nginx.pid; error_log {prefix}/error.log;\n"
            "events {}\n"
            f"http {{ access_log off; client_body_temp_path {prefix}; keepalive_requests 1000;\n"
            f"  server {{ listen 127.0.0.1:{port};\n"
            "    location /api/ { default_type application/json; return 200 '{\"ok\":true}'; } } }\n"
        )
        nginx = subprocess.Popen([str(NGINX), "-p", prefix, "-c", str(conf)])
        try:

            async def scenario() -> list[int]:
                client = HttpClient(4, total_seconds=5)
                for _ in range(50):  # until nginx listens
                    try:
                        await client.request("GET", f"http://127.0.0.1:{port}/api/x", {})
                        break
                    except ConnectError:
                        await asyncio.sleep(0.1)
                answers = await asyncio.gather(
                    *(client.request("POST", f"http://127.0.0.1:{port}/api/x", {}, b"{}") for _ in range(200))
                )
                client.close()
                return [answer.status for answer in answers]

            assert uvloop.run(scenario()) == [200] * 200
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)
