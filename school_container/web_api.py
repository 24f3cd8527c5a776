"""The koi's HTTP and websocket client, behind a small interface so the library can change.

DESIGN.md measured aiohttp (with uvloop) as a fair start and faster clients as the likely next
step; everything koi need from HTTP goes through :class:`WebApi`, so swapping it touches one file.
:class:`ReqwestWebApi` (the School's) makes HTTP calls with pyreqwest, twice aiohttp's calls per core
in `make bench`. :class:`NativeWebApi` makes them with the School's own client (``http_client.py``).
Websockets are the School's own protocol (``websocket.py``), whichever HTTP client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from json.scanner import make_scanner
from typing import Any, Protocol, cast

import aiohttp
from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import PyreqwestError

from koipond.metric_names import OK_STATUS
from school_container.http1 import HttpError, bearer_line
from school_container.http_client import HttpClient
from school_container.websocket import KoiSocket, OnMessage, open_koi_socket

CALL_TIMEOUT_SECONDS = 30.0


@dataclass(slots=True)
class CallOutcome:
    """How a call ended: ``status`` is one of ``metrics.STATUSES``; ``body`` is the JSON answer if any.

    Read-only by convention (one is built per call; a frozen dataclass takes three times as long to build).
    """

    status: str
    http_status: int
    body: dict[str, Any] | None


class WebApi(Protocol):
    async def call(
        self, method: str, url: str, token: str, params: Mapping[str, str] | None, body: Any | None
    ) -> CallOutcome: ...

    async def open_websocket(self, url: str, token: str, heartbeat: float, on_message: OnMessage) -> KoiSocket: ...

    async def close(self) -> None: ...


def raise_if_stopping() -> None:
    """Re-raise a cancel (a koi being stopped) that a client library turned into an error.

    pyreqwest answers a cancel mid-request with its own error, and on Python 3.11 a cancel landing as an
    ``asyncio.timeout`` expires comes out as TimeoutError. Counted as a failed call, the stop would be
    lost: the koi would carry on (e.g. reconnect its websocket) and its School's stop would hang.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def classify(http_status: int, body: dict[str, Any] | None) -> str:
    """The bounded outcome label of an answer (Slack-style APIs answer errors with 200 and ok=false)."""
    if http_status == 429:
        return "http_429"
    if http_status >= 500:
        return "http_5xx"
    if http_status >= 400:
        return "http_4xx"
    if body is None:
        return "bad_response"
    return OK_STATUS if body.get("ok", True) is not False else "api_error"


# The C scanner json.loads ends in, without its layers above (typeshed types its argument oddly).
_scan_json: Callable[[str, int], tuple[Any, int]] = make_scanner(cast(Any, json.JSONDecoder()))
_JSON_SPACE = " \t\n\r"
_encoder = json.JSONEncoder(separators=(",", ":"))  # json.dumps builds one per call


def json_object(raw: bytes) -> dict[str, Any] | None:
    """``json.loads(raw)`` when that is a JSON object, else None (also for anything json.loads refuses).

    A body that starts with ``{`` (the usual answer) is scanned directly: json.loads' encoding
    detection, regex whitespace skips and wrappers cost more than the scan of a small answer. The
    answers are json.loads' (tests/unit/test_web_api_outcome.py holds them to it).
    """
    if raw[:1] == b"{" and raw[1:2] != b"\x00":  # a zero byte here is UTF-16 to json.loads
        try:
            text = raw.decode("utf-8", "surrogatepass")
            parsed, end = _scan_json(text, 0)
        except (ValueError, StopIteration):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return None
        if end == len(text) or not text[end:].strip(_JSON_SPACE):
            return cast(dict[str, Any], parsed)
        return None
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def outcome(http_status: int, raw: bytes) -> CallOutcome:
    """The outcome of an answer from its status and raw body (JSON objects only count as a body)."""
    answer = json_object(raw)
    return CallOutcome(classify(http_status, answer), http_status, answer)


class AiohttpWebApi:
    """One shared aiohttp session (and connection pool) for every koi of a School."""

    def __init__(self, max_connections: int, timeout_seconds: float = CALL_TIMEOUT_SECONDS) -> None:
        # Created lazily inside the running loop: aiohttp sessions bind to the loop that makes them.
        self._max_connections = max_connections
        self._timeout = timeout_seconds
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        return self._session

    async def call(
        self, method: str, url: str, token: str, params: Mapping[str, str] | None, body: Any | None
    ) -> CallOutcome:
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self._client().request(method, url, params=params, json=body, headers=headers) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError:
            raise_if_stopping()
            return CallOutcome("timeout", 0, None)
        except (aiohttp.ClientError, OSError):
            raise_if_stopping()
            return CallOutcome("connect_error", 0, None)
        return outcome(status, raw)

    async def open_websocket(self, url: str, token: str, heartbeat: float, on_message: OnMessage) -> KoiSocket:
        """Open a koi's websocket (the School's own client, see ``websocket.py``).

        Raises:
            WebsocketError: the server refused the upgrade or broke the protocol.
            OSError: the connection failed. TimeoutError: it took too long.
        """
        return await open_koi_socket(url, {"Authorization": f"Bearer {token}"}, on_message, heartbeat)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await asyncio.sleep(0)  # let the connector close its transports


class ReqwestWebApi(AiohttpWebApi):
    """HTTP calls through pyreqwest (Rust reqwest on its own Tokio thread)."""

    def __init__(self, max_connections: int, timeout_seconds: float = CALL_TIMEOUT_SECONDS) -> None:
        super().__init__(max_connections, timeout_seconds)
        self._reqwest: Client | None = None
        # Calls beyond the pool wait here, on an asyncio future each, rather than inside pyreqwest: with
        # thousands of koi waiting on 64 connections that made ~20 % more calls per core in `make bench`.
        self._gate = asyncio.Semaphore(max_connections)

    def _http(self) -> Client:
        if self._reqwest is None:
            # Created inside the running loop, like the aiohttp sessions: answers come back through it.
            self._reqwest = (
                ClientBuilder()
                .max_connections(self._max_connections)
                .timeout(timedelta(seconds=self._timeout))
                .error_for_status(False)
                .build()
            )
        return self._reqwest

    async def call(
        self, method: str, url: str, token: str, params: Mapping[str, str] | None, body: Any | None
    ) -> CallOutcome:
        builder = self._http().request(method, url).header("Authorization", f"Bearer {token}", is_sensitive=True)
        if params:
            builder = builder.query(params)
        if body is not None:
            builder = builder.body_json(body)
        try:
            async with self._gate:
                response = await builder.build().send()
                raw = bytes(await response.bytes())
        except TimeoutError:  # pyreqwest's timeouts subclass it
            raise_if_stopping()
            return CallOutcome("timeout", 0, None)
        except (PyreqwestError, OSError):
            raise_if_stopping()
            return CallOutcome("connect_error", 0, None)
        return outcome(response.status, raw)

    async def close(self) -> None:
        if self._reqwest is not None:
            await self._reqwest.close()
        await super().close()


class NativeWebApi(AiohttpWebApi):
    """HTTP calls through the School's own HTTP/1.1 client (``http_client.py``) on the koi's loop.

    The same contract as :class:`ReqwestWebApi`: at most ``max_connections`` calls at once (per origin;
    koi call one target), waiting for a free connection is not timed, ``timeout_seconds`` covers the
    connection and the whole answer, and a cancel stays a cancel.
    """

    def __init__(self, max_connections: int, timeout_seconds: float = CALL_TIMEOUT_SECONDS) -> None:
        super().__init__(max_connections, timeout_seconds)
        self._native = HttpClient(max_connections, timeout_seconds, connect_seconds=timeout_seconds)

    async def call(
        self, method: str, url: str, token: str, params: Mapping[str, str] | None, body: Any | None
    ) -> CallOutcome:
        try:
            if body is None:
                waiter = self._native.start(method, url, bearer_line(token), None, params)
            else:
                lines = bearer_line(token) + b"Content-Type: application/json\r\n"
                waiter = self._native.start(method, url, lines, _encoder.encode(body).encode(), params)
            response = await waiter
        except HttpError as error:
            raise_if_stopping()
            return CallOutcome(error.status, 0, None)
        except asyncio.CancelledError:
            self._native.forget(waiter)
            raise
        return outcome(response.status, response.body)

    async def close(self) -> None:
        self._native.close()
        await super().close()
