"""The School's own HTTP/1.1 client: an asyncio protocol on uvloop over the Sans-I/O ``http1`` core.

Why the School's own: in `make bench` the client library, not Python, capped a koi's calls per core
(a bare asyncio protocol on uvloop did ~5x pyreqwest's requests/s against the same nginx). This file
moves bytes, pools connections per origin and keeps time; framing and reuse rules are ``http1``'s.

Every failure comes out as an ``http1.HttpError`` whose ``status`` is the School's metric status:
``timeout`` (connect or total time), ``connect_error`` (refused, reset, TLS, early close) and
``bad_response`` (not HTTP, or over a limit).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from typing import cast

from school_container.http1 import (
    DEFAULT_MAX_BODY_BYTES,
    ClientConnection,
    ConnectionState,
    EarlyCloseError,
    HttpError,
    Origin,
    Response,
    encode_request,
    split_url,
)
from school_container.websocket import tls_context

CONNECT_TIMEOUT_SECONDS = 10.0
# Longer than a server's keep-alive is pointless: uvicorn and Node close idle lines after 5 s, nginx 75 s.
IDLE_SECONDS = 30.0


class ConnectError(HttpError):
    """The connection could not be made or broke (refused, reset, TLS, DNS)."""


class CallTimeoutError(HttpError):
    """The connection or the whole call took longer than allowed."""

    status = "timeout"


class HttpConnection(asyncio.Protocol):
    """One connection: writes a request, completes ``request()`` with the response or the failure."""

    __slots__ = ("_rules", "_transport", "_waiter", "heard", "idle_since", "reused")

    def __init__(self, max_body_bytes: int) -> None:
        self._rules = ClientConnection(max_body_bytes)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Response] | None = None
        self.heard = False  # any byte of the current response arrived
        self.reused = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, though they are one.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.heard = True
        try:
            response = self._rules.receive(data)
        except HttpError as error:
            self._settle(None, error)
        else:
            if response is not None:
                self._settle(response, None)
        if self._rules.state == ConnectionState.CLOSED:
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        try:
            response = self._rules.receive_eof()
        except HttpError as cut_short:
            broken = ConnectError(f"the connection broke: {exc!r}") if exc is not None else None
            self._settle(None, broken or cut_short)
        else:
            if response is not None:
                self._settle(response, None)

    def _settle(self, response: Response | None, error: HttpError | None) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if error is None:
            waiter.set_result(cast(Response, response))
        else:
            waiter.set_exception(error)

    async def request(self, data: bytes) -> Response:
        """Send ``data`` (one encoded request) and wait for its whole response.

        Raises:
            HttpError: the response was malformed, or the connection ended before it did.
        """
        if self._transport is None:
            raise EarlyCloseError("the connection closed while idle")
        self.heard = False
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(self._rules.send(data))
        try:
            return await self._waiter
        finally:
            self._waiter = None

    @property
    def reusable(self) -> bool:
        transport = self._transport
        return transport is not None and not transport.is_closing() and self._rules.state == ConnectionState.IDLE

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class OriginPool:
    """Keep-alive connections to one origin: at most ``max_size`` at once, idle ones reused newest first.

    Newest first (LIFO) so that under light load a few warm connections serve everything and the
    rest age out, rather than every connection being kept barely alive by round-robin use.
    """

    __slots__ = ("_connect_seconds", "_idle", "_max_body", "_origin", "_slots", "_tls")

    def __init__(
        self, origin: Origin, max_size: int, connect_seconds: float, tls: ssl.SSLContext | None, max_body_bytes: int
    ) -> None:
        self._origin = origin
        self._slots = asyncio.Semaphore(max_size)
        self._connect_seconds = connect_seconds
        self._tls = tls
        self._max_body = max_body_bytes
        # A dict as an ordered set: popitem() takes the newest, and a connection leaves it in O(1).
        self._idle: dict[HttpConnection, None] = {}

    async def send(self, request: bytes, total_seconds: float) -> Response:
        """Send ``request`` on an idle connection or a new one; waiting for a free slot is not timed.

        Raises:
            TimeoutError: past ``total_seconds``. OSError: the connection failed. HttpError: see ``request``.
        """
        async with self._slots:
            async with asyncio.timeout(total_seconds):
                connection = self._take_idle()
                if connection is not None:
                    try:
                        return await self._exchange(connection, request)
                    except HttpError:
                        # The server closed the idle line as the request went out (keep-alive races):
                        # nothing was answered, so the request goes once more on a fresh connection.
                        if connection.heard:
                            raise
                return await self._exchange(await self._connect(), request)

    def _take_idle(self) -> HttpConnection | None:
        oldest_allowed = time.monotonic() - IDLE_SECONDS
        while self._idle:
            connection, _ = self._idle.popitem()
            if connection.reusable and connection.idle_since >= oldest_allowed:
                connection.reused = True
                return connection
            connection.abort()
        return None

    async def _exchange(self, connection: HttpConnection, request: bytes) -> Response:
        try:
            response = await connection.request(request)
        except BaseException:  # a timeout or a cancel leaves the response half read: the line is spent
            connection.abort()
            raise
        if connection.reusable:
            connection.idle_since = time.monotonic()
            self._idle[connection] = None
        else:
            connection.abort()
        return response

    async def _connect(self) -> HttpConnection:
        origin, tls = self._origin, self._tls
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._connect_seconds):
            _, connection = await loop.create_connection(
                lambda: HttpConnection(self._max_body),
                origin.host,
                origin.port,
                ssl=tls,
                server_hostname=origin.host if tls is not None else None,
            )
        return connection

    def close(self) -> None:
        while self._idle:
            self._idle.popitem()[0].abort()


class HttpClient:
    """Calls over keep-alive pools, one per origin; https origins share one verifying TLS context."""

    __slots__ = ("_connect_seconds", "_max_body", "_max_per_origin", "_pools", "_tls", "_total_seconds")

    def __init__(
        self,
        max_connections_per_origin: int,
        total_seconds: float,
        connect_seconds: float = CONNECT_TIMEOUT_SECONDS,
        tls: ssl.SSLContext | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._max_per_origin = max_connections_per_origin
        self._total_seconds = total_seconds
        self._connect_seconds = connect_seconds
        self._tls = tls
        self._max_body = max_body_bytes
        self._pools: dict[Origin, OriginPool] = {}

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Response:
        """One request and its whole response, whatever its HTTP status.

        Raises:
            HttpError: no usable response; its ``status`` says which metric status it counts as
                (``CallTimeoutError``, ``ConnectError``, ``MalformedResponseError``, ``EarlyCloseError``).
        """
        origin, target = split_url(url, params)
        pool = self._pools.get(origin) or self._add_pool(origin)
        data = encode_request(method, origin, target, headers, body)
        try:
            return await pool.send(data, self._total_seconds)
        except TimeoutError as error:  # before OSError: TimeoutError is one
            raise CallTimeoutError(f"{method} {origin.host_header} took too long") from error
        except OSError as error:
            raise ConnectError(f"{method} {origin.host_header}: {error}") from error

    def _add_pool(self, origin: Origin) -> OriginPool:
        tls = (self._tls or tls_context()) if origin.scheme == "https" else None
        pool = OriginPool(origin, self._max_per_origin, self._connect_seconds, tls, self._max_body)
        self._pools[origin] = pool
        return pool

    def close(self) -> None:
        """Close every idle connection (calls in flight end when their tasks are cancelled)."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
