"""The School's own HTTP/1.1 client: an asyncio protocol on uvloop over the Sans-I/O ``http1`` core.

Why the School's own: in `make bench` the client library, not Python, capped a koi's calls per core
(a bare asyncio protocol on uvloop did ~5x pyreqwest's requests/s against the same nginx). This file
moves bytes, pools connections per origin and keeps time; framing and reuse rules are ``http1``'s.

A call is its request's bytes and one future. A connection that completes a response takes the next
queued request of its origin itself, inside ``data_received``: under load a request goes out with no
task switch, semaphore or timer of its own, and the caller's task wakes once, when its answer is whole.
Call timeouts are deadlines, checked by one timer per origin while calls are out (a per-call
``asyncio.timeout`` armed and cancelled a loop timer on every call).

Every failure comes out as an ``http1.HttpError`` whose ``status`` is the School's metric status:
``timeout`` (connect or total time), ``connect_error`` (refused, reset, TLS, early close) and
``bad_response`` (not HTTP, or over a limit).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Mapping
from typing import cast

from school_container.http1 import (
    DEFAULT_MAX_BODY_BYTES,
    ClientConnection,
    ConnectionState,
    HttpError,
    Origin,
    Response,
    header_lines,
    request_head,
    request_tail,
    split_url,
)
from school_container.websocket import tls_context

CONNECT_TIMEOUT_SECONDS = 10.0
# Longer than a server's keep-alive is pointless: uvicorn and Node close idle lines after 5 s, nginx 75 s.
IDLE_SECONDS = 30.0
# How late past its deadline a call may be timed out: a tenth of the timeout, and at most this.
MAX_TIMEOUT_SLACK_SECONDS = 1.0
# Request heads cached per (method, URL); the cache starts over when full (ids in paths make URLs vary).
PREPARED_HEADS = 4096

_Queued = tuple[bytes, "asyncio.Future[Response]", bool]
"""A request waiting for a connection: its bytes, its caller's future, whether it is already a retry."""


class ConnectError(HttpError):
    """The connection could not be made or broke (refused, reset, TLS, DNS)."""


class CallTimeoutError(HttpError):
    """The connection or the whole call took longer than allowed."""

    status = "timeout"


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection of a pool: carries one request at a time and settles its caller's future."""

    __slots__ = (
        "_pool",
        "_request",
        "_retried",
        "_rules",
        "_transport",
        "deadline",
        "heard",
        "idle_since",
        "served",
        "waiter",
    )

    def __init__(self, pool: OriginPool, max_body_bytes: int) -> None:
        self._pool = pool
        self._rules = ClientConnection(max_body_bytes)
        self._transport: asyncio.Transport | None = None
        self._request = b""
        self._retried = False
        self.waiter: asyncio.Future[Response] | None = None  # the caller of the request in flight
        self.deadline = 0.0  # loop time by which its answer must be whole
        self.heard = False  # any byte of the current response arrived
        self.served = 0  # responses carried: a line that carried one may have been closed while idle
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, though they are one.
        self._transport = cast(asyncio.Transport, transport)

    def send(self, request: bytes, waiter: asyncio.Future[Response], retried: bool, deadline: float) -> None:
        """Write ``request``; its response (or failure) settles ``waiter``. Only an idle connection sends."""
        self._request, self._retried, self.waiter, self.deadline, self.heard = request, retried, waiter, deadline, False
        cast(asyncio.Transport, self._transport).write(self._rules.send(request))

    def data_received(self, data: bytes) -> None:
        self.heard = True
        try:
            response = self._rules.receive(data)
        except HttpError as error:
            self.fail(error)
            return
        state = self._rules.state
        if response is not None:
            waiter, self.waiter, self._request = self.waiter, None, b""
            self.served += 1
            if waiter is not None and not waiter.done():
                waiter.set_result(response)
            if state == ConnectionState.IDLE and not cast(asyncio.Transport, self._transport).is_closing():
                self._pool.release(self)
                return
        if state == ConnectionState.CLOSED:
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        waiter, self.waiter = self.waiter, None
        try:
            response = self._rules.receive_eof()
        except HttpError as cut_short:
            if waiter is not None and not waiter.done():
                if not self.heard and self.served and not self._retried:
                    # The server closed the idle line as the request went out (keep-alive races): nothing
                    # was answered, so the request goes once more, on a fresh connection.
                    self._pool.requeue(self._request, waiter)
                else:
                    broken = ConnectError(f"the connection broke: {exc!r}") if exc is not None else None
                    waiter.set_exception(broken or cut_short)
        else:
            if response is not None and waiter is not None and not waiter.done():
                waiter.set_result(response)
        self._request = b""
        self._pool.lost(self)

    def fail(self, error: HttpError) -> None:
        """End the call in flight with ``error``; a half-read line is spent, so it closes."""
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.abort()

    @property
    def reusable(self) -> bool:
        transport = self._transport
        return transport is not None and not transport.is_closing() and self._rules.state == ConnectionState.IDLE

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()


class OriginPool:
    """Keep-alive connections to one origin: at most ``max_size`` at once, requests beyond them queued.

    A queued request waits untimed; its ``total_seconds`` start when it is written. Idle connections are
    reused newest first (LIFO), so that under light load a few warm connections serve everything and
    the rest age out, rather than every connection being kept barely alive by round-robin use.
    """

    __slots__ = (
        "_closed",
        "_connect_seconds",
        "_connecting",
        "_connections",
        "_idle",
        "_loop",
        "_max_body",
        "_max_size",
        "_origin",
        "_queue",
        "_slack",
        "_sweeper",
        "_tls",
        "_total_seconds",
    )

    def __init__(
        self,
        origin: Origin,
        max_size: int,
        connect_seconds: float,
        tls: ssl.SSLContext | None,
        max_body_bytes: int,
        total_seconds: float,
    ) -> None:
        self._origin = origin
        self._max_size = max_size
        self._connect_seconds = connect_seconds
        self._total_seconds = total_seconds
        self._slack = min(MAX_TIMEOUT_SLACK_SECONDS, total_seconds / 10)
        self._tls = tls
        self._max_body = max_body_bytes
        self._loop = asyncio.get_running_loop()
        self._connections: set[HttpConnection] = set()  # open ones, idle or busy
        self._connecting: set[asyncio.Task[None]] = set()
        self._idle: list[HttpConnection] = []  # newest last
        self._queue: deque[_Queued] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    def submit(self, request: bytes) -> asyncio.Future[Response]:
        """Send ``request`` on an idle connection, or queue it for the next free one (opening one if allowed).

        Returns:
            The future of its whole response; it fails with an ``HttpError`` (see the module's docstring).
        """
        waiter: asyncio.Future[Response] = self._loop.create_future()
        connection = self._take_idle() if self._idle else None
        if connection is not None:
            self._send(connection, request, waiter, False)
            return waiter
        self._queue.append((request, waiter, False))
        if len(self._connections) + len(self._connecting) < self._max_size:
            self._open()
        return waiter

    def forget(self, waiter: asyncio.Future[Response]) -> None:
        """The caller of ``waiter`` was cancelled: a request in flight spends its line; a queued one is skipped."""
        for connection in self._connections:
            if connection.waiter is waiter:
                connection.abort()
                return

    def release(self, connection: HttpConnection) -> None:
        """``connection`` completed a response and may carry another: the next queued request, or it idles."""
        queue = self._queue
        while queue:
            request, waiter, retried = queue.popleft()
            if not waiter.done():  # a caller cancelled while queued is skipped
                self._send(connection, request, waiter, retried)
                return
        if self._closed:
            connection.abort()
            return
        connection.idle_since = self._loop.time()
        self._idle.append(connection)

    def requeue(self, request: bytes, waiter: asyncio.Future[Response]) -> None:
        """Send ``request`` again, first in line (once: a retry is never retried)."""
        self._queue.appendleft((request, waiter, True))

    def lost(self, connection: HttpConnection) -> None:
        """``connection`` closed: its place may go to a new connection for the requests still queued."""
        self._connections.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)
        queue = self._queue
        while queue and queue[0][1].done():
            queue.popleft()
        if queue and len(self._connections) + len(self._connecting) < self._max_size:
            self._open()

    def close(self) -> None:
        """Close every idle connection, and each busy one once it has no queued call left to carry."""
        self._closed = True
        while self._idle:
            self._idle.pop().abort()

    def _take_idle(self) -> HttpConnection | None:
        oldest_allowed = self._loop.time() - IDLE_SECONDS
        idle = self._idle
        while idle:
            connection = idle.pop()
            if connection.reusable and connection.idle_since >= oldest_allowed:
                return connection
            connection.abort()
        return None

    def _send(
        self, connection: HttpConnection, request: bytes, waiter: asyncio.Future[Response], retried: bool
    ) -> None:
        connection.send(request, waiter, retried, self._loop.time() + self._total_seconds)
        if self._sweeper is None:
            self._sweeper = self._loop.call_later(self._slack, self._sweep)

    def _sweep(self) -> None:
        """Time out the calls past their deadline; look again while any call is out."""
        self._sweeper = None
        now, busy = self._loop.time(), False
        for connection in list(self._connections):
            if connection.waiter is None:
                continue
            if connection.deadline <= now:
                connection.fail(CallTimeoutError(f"{self._origin.host_header}: no answer in {self._total_seconds}s"))
            else:
                busy = True
        if busy:
            self._sweeper = self._loop.call_later(self._slack, self._sweep)

    def _open(self) -> None:
        task = self._loop.create_task(self._connect())
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _connect(self) -> None:
        """Open one connection; it takes the first queued request, or a failure fails that request."""
        origin, tls = self._origin, self._tls
        try:
            async with asyncio.timeout(self._connect_seconds):
                _, connection = await self._loop.create_connection(
                    lambda: HttpConnection(self, self._max_body),
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls is not None else None,
                )
        except TimeoutError as error:  # before OSError: TimeoutError is one
            failure: HttpError = CallTimeoutError(f"connecting to {origin.host_header} took too long")
            failure.__cause__ = error
        except Exception as error:  # refused, DNS, TLS (ssl errors are OSErrors): all a failed connect
            failure = ConnectError(f"connecting to {origin.host_header}: {error}")
            failure.__cause__ = error
        else:
            if connection.reusable:
                self._connections.add(connection)
                self.release(connection)
            else:  # it closed before this task saw it made
                self.lost(connection)
            return
        finally:
            self._connecting.discard(cast(asyncio.Task[None], asyncio.current_task()))
        self._fail_next(failure)

    def _fail_next(self, failure: HttpError) -> None:
        """A connect failed: so does the first queued call; the next one gets a connect of its own."""
        queue = self._queue
        while queue:
            _, waiter, _ = queue.popleft()
            if not waiter.done():
                waiter.set_exception(failure)
                break
        while queue and queue[0][1].done():
            queue.popleft()
        if queue and len(self._connections) + len(self._connecting) < self._max_size:
            self._open()


class HttpClient:
    """Calls over keep-alive pools, one per origin; https origins share one verifying TLS context."""

    __slots__ = ("_connect_seconds", "_heads", "_max_body", "_max_per_origin", "_pools", "_tls", "_total_seconds")

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
        # (method, URL) -> its pool and request head: URLs repeat call after call, parsing them did not.
        self._heads: dict[tuple[str, str], tuple[OriginPool, bytes]] = {}

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
                (``CallTimeoutError``, ``ConnectError``, ``MalformedResponseError``, ``EarlyCloseError``,
                ``InvalidRequestError``).
        """
        waiter = self.start(method, url, header_lines(headers), body, params)
        try:
            return await waiter
        except asyncio.CancelledError:
            self.forget(waiter)
            raise

    def start(
        self, method: str, url: str, lines: bytes, body: bytes | None = None, params: Mapping[str, str] | None = None
    ) -> asyncio.Future[Response]:
        """Send a request (or queue it for a connection) and return the future of its whole response.

        What ``request`` does without a coroutine of its own, for callers that await many calls: a caller
        cancelled while awaiting the future must call ``forget`` with it.

        Args:
            lines: the request's other header lines, from ``http1.header_lines`` (checked for CR and LF).

        Raises:
            InvalidRequestError: the URL cannot be called (at once; failures later come through the future).
        """
        prepared = self._heads.get((method, url)) if params is None else None
        pool, head = prepared or self._prepare(method, url, params)
        return pool.submit(head + request_tail(method, lines, body))

    def forget(self, waiter: asyncio.Future[Response]) -> None:
        """The caller awaiting ``waiter`` (from ``start``) was cancelled: its call is dropped."""
        if waiter.cancelled():
            for pool in self._pools.values():
                pool.forget(waiter)

    def _prepare(self, method: str, url: str, params: Mapping[str, str] | None) -> tuple[OriginPool, bytes]:
        origin, target = split_url(url, params)
        pool = self._pools.get(origin) or self._add_pool(origin)
        prepared = (pool, request_head(method, origin, target))
        if params is None:
            if len(self._heads) >= PREPARED_HEADS:
                self._heads.clear()
            self._heads[(method, url)] = prepared
        return prepared

    def _add_pool(self, origin: Origin) -> OriginPool:
        tls = (self._tls or tls_context()) if origin.scheme == "https" else None
        pool = OriginPool(origin, self._max_per_origin, self._connect_seconds, tls, self._max_body, self._total_seconds)
        self._pools[origin] = pool
        return pool

    def close(self) -> None:
        """Close every idle connection (calls in flight end when their tasks are cancelled)."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._heads.clear()
