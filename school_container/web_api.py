"""The koi's HTTP and websocket client, behind a small interface so the library can change.

DESIGN.md measured aiohttp (with uvloop) as a fair start and faster clients as the likely next
step; everything koi need from HTTP goes through :class:`WebApi`, so swapping it touches one file.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

CALL_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How a call ended: ``status`` is one of ``metrics.STATUSES``; ``body`` is the JSON answer if any."""

    status: str
    http_status: int
    body: dict[str, Any] | None


class WebApi(Protocol):
    async def call(
        self, method: str, url: str, token: str, params: Mapping[str, str] | None, body: Any | None
    ) -> CallOutcome: ...

    async def open_websocket(self, url: str, token: str, heartbeat: float) -> aiohttp.ClientWebSocketResponse: ...

    async def close(self) -> None: ...


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
    return "ok" if body.get("ok", True) is not False else "api_error"


class AiohttpWebApi:
    """One shared aiohttp session (and connection pool) for every koi of a School."""

    def __init__(self, max_connections: int) -> None:
        # Created lazily inside the running loop: aiohttp sessions bind to the loop that makes them.
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._ws_session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_SECONDS)
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
            return CallOutcome("timeout", 0, None)
        except (aiohttp.ClientError, OSError):
            return CallOutcome("connect_error", 0, None)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        answer = parsed if isinstance(parsed, dict) else None
        return CallOutcome(classify(status, answer), status, answer)

    def _websockets(self) -> aiohttp.ClientSession:
        # Websockets get their own, unlimited pool: each koi holds one for good, and counting them
        # against the HTTP pool's limit would starve every HTTP call once that many koi connected.
        if self._ws_session is None:
            self._ws_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True)
            )
        return self._ws_session

    async def open_websocket(self, url: str, token: str, heartbeat: float) -> aiohttp.ClientWebSocketResponse:
        """Open a websocket; raises aiohttp.ClientError, OSError or TimeoutError when it cannot."""
        return await self._websockets().ws_connect(
            url,
            headers={"Authorization": f"Bearer {token}"},
            heartbeat=heartbeat,
            timeout=aiohttp.ClientWSTimeout(ws_close=5),
        )

    async def close(self) -> None:
        for session in (self._session, self._ws_session):
            if session is not None:
                await session.close()
        await asyncio.sleep(0)  # let the connectors close their transports
