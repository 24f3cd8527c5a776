"""The local Lambda HTTP adapter on a real loopback socket: framing, limits, timeouts and concurrency."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from io import BufferedReader
from typing import Any

import httpx
import pytest

from local_pond.lambda_http import HttpLimits, LambdaHttpServer

ECHO = "tests.integration.sample_lambda:echo"
SMALL = HttpLimits(max_body_bytes=1024, idle_seconds=1.0, body_seconds=1.0, invoke_seconds=2.0)


@contextmanager
def serving(handler: str = ECHO, workers: int = 2, limits: HttpLimits = SMALL) -> Iterator[tuple[str, int]]:
    """The adapter serving ``handler`` on a free loopback port; yields (host, port)."""
    server = LambdaHttpServer("127.0.0.1", 0, handler, "echo", workers=workers, limits=limits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[str, int]]:
    with serving() as address:
        yield address


def url(address: tuple[str, int], path: str) -> str:
    return f"http://{address[0]}:{address[1]}{path}"


@contextmanager
def raw_connection(address: tuple[str, int]) -> Iterator[tuple[socket.socket, BufferedReader]]:
    with socket.create_connection(address, timeout=5) as sock, sock.makefile("rb") as stream:
        yield sock, stream


def read_answer(stream: BufferedReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 answer (status, lower-cased headers, body) read off a raw connection."""
    status_line = stream.readline()
    if not status_line:
        raise EOFError("the server closed the connection")
    headers: dict[str, str] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, stream.read(int(headers.get("content-length", "0")))


def nothing_more(sock: socket.socket, stream: BufferedReader) -> bool:
    """True when the server sends nothing further (it waits for a request, or it closed the connection)."""
    sock.settimeout(0.5)
    try:
        return not stream.read1(1)
    except TimeoutError:
        return True


def error_code(body: bytes) -> str:
    code: str = json.loads(body)["error"]["code"]
    return code


def echoed(body: bytes) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(body)["event"]
    return event


def test_a_413_on_keep_alive_is_followed_by_exactly_the_next_requests_answer(echo: tuple[str, int]) -> None:
    too_big = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n" * 40  # over 1024 bytes, and a request if misread
    with raw_connection(echo) as (sock, stream):
        sock.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(too_big), too_big))
        sock.sendall(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = read_answer(stream)
        assert headers["content-type"].startswith("application/json")
        assert (status, error_code(body)) == (413, "payload_too_large")
        status, _, body = read_answer(stream)
        assert (status, echoed(body)["rawPath"]) == (200, "/next")
        assert nothing_more(sock, stream)


def test_an_oversized_chunked_body_is_a_413_too(echo: tuple[str, int]) -> None:
    chunk = b"x" * 800
    with raw_connection(echo) as (sock, stream):
        sock.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk, len(chunk), chunk))
        sock.sendall(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = read_answer(stream)
        assert (status, error_code(body)) == (413, "payload_too_large")
        status, _, body = read_answer(stream)
        assert (status, echoed(body)["rawPath"]) == (200, "/next")


def test_a_chunked_body_reaches_the_handler_whole(echo: tuple[str, int]) -> None:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (b'{"a": ', b"42}", b""))
    with raw_connection(echo) as (sock, stream):
        sock.sendall(
            b"POST /v1/things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunks
        )
        status, _, body = read_answer(stream)
    assert status == 200
    assert json.loads(echoed(body)["body"]) == {"a": 42}


def test_a_malformed_content_length_is_a_json_400(echo: tuple[str, int]) -> None:
    with raw_connection(echo) as (sock, stream):
        sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\nhello")
        status, headers, body = read_answer(stream)
    assert (status, headers["content-type"].split(";")[0]) == (400, "application/json")
    assert set(json.loads(body)["error"]) == {"code", "message", "details"}
    assert error_code(body) == "bad_request"


def test_a_body_shorter_than_its_length_times_out_while_others_are_served(echo: tuple[str, int]) -> None:
    with raw_connection(echo) as (sock, stream):
        sock.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten..")
        began = time.monotonic()
        for _ in range(3):  # the stalled request holds no worker: both workers stay free meanwhile
            assert httpx.get(url(echo, "/meanwhile"), timeout=2).status_code == 200
        status, headers, body = read_answer(stream)
        assert time.monotonic() - began < 4
        assert (status, error_code(body), headers["connection"]) == (408, "request_timeout", "close")
        assert stream.read() == b""  # mid-body, the connection cannot be reused: closed


def test_a_client_that_never_finishes_its_headers_is_dropped(echo: tuple[str, int]) -> None:
    with raw_connection(echo) as (sock, stream):
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n")
        began = time.monotonic()
        assert stream.read() == b""
        assert time.monotonic() - began < 4


def test_two_slow_requests_run_at_once(echo: tuple[str, int]) -> None:
    began = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: httpx.get(url(echo, "/?sleep=1"), timeout=5), range(2)))
    assert [a.status_code for a in answers] == [200, 200]
    assert time.monotonic() - began < 1.8
    assert len({a.json()["pid"] for a in answers}) == 2  # two execution environments


def test_a_slow_request_does_not_hold_up_a_quick_one(echo: tuple[str, int]) -> None:
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(httpx.get, url(echo, "/?sleep=1.5"), timeout=5)
        time.sleep(0.2)
        began = time.monotonic()
        assert httpx.get(url(echo, "/poll"), timeout=5).status_code == 200
        assert time.monotonic() - began < 0.5
        assert slow.result().status_code == 200


def test_a_handler_past_its_timeout_is_a_504_and_its_worker_is_replaced() -> None:
    with serving(workers=1) as address:
        answer = httpx.get(url(address, "/?sleep=5"), timeout=10)
        assert (answer.status_code, error_code(answer.content)) == (504, "handler_timeout")
        assert httpx.get(url(address, "/after"), timeout=10).status_code == 200


def test_a_crashed_or_failing_handler_is_a_502_and_serving_goes_on() -> None:
    with serving(workers=1) as address:
        for steer in ("exit", "fail"):
            answer = httpx.get(url(address, f"/?{steer}"), timeout=10)
            assert (answer.status_code, error_code(answer.content)) == (502, "handler_failed")
            assert httpx.get(url(address, "/after"), timeout=10).status_code == 200


def test_the_event_has_the_api_gateway_v2_shape(echo: tuple[str, int]) -> None:
    answer = httpx.put(
        url(echo, "/v1/x?tag=a&tag=b&q="),
        content=b"\x00\xff",
        headers={"Content-Type": "application/octet-stream", "X-Custom": "1", "Cookie": "a=1; b=2"},
    )
    event = answer.json()["event"]
    assert (event["version"], event["rawPath"], event["rawQueryString"]) == ("2.0", "/v1/x", "tag=a&tag=b&q=")
    assert event["queryStringParameters"] == {"tag": "a,b", "q": ""}
    assert event["headers"]["x-custom"] == "1"
    assert all(name == name.lower() for name in event["headers"])
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["requestContext"]["http"]["method"] == "PUT"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert (event["isBase64Encoded"], base64.b64decode(event["body"])) == (True, b"\x00\xff")


def test_the_keeper_serves_its_console_and_openapi_from_worker_processes() -> None:
    keeper = serving("lambdas.keeper_api.handler:lambda_handler", limits=HttpLimits())
    with keeper as address, httpx.Client(base_url=url(address, ""), timeout=30) as client:
        assert client.get("/openapi.json").json()["info"]["title"] == "koipond Keeper API"
        index = client.get("/ui/")
        assert (index.status_code, index.headers["content-type"]) == (200, "text/html; charset=utf-8")
        assert client.get("/healthz").json()["status"] == "ok"
