"""A loopback HTTP proxy in front of the embedded AWS that fails on demand, per AWS service.

Components point ``KOIPOND_AWS_ENDPOINT`` at the proxy (``PondConfig.aws_via``); a test or the chaos
soak switches it at runtime, in process::

    proxy = FaultProxy(pond.aws_url)
    url = proxy.start()                 # give ``url`` to the components
    proxy.set("refuse", "dynamodb")     # DynamoDB unreachable, every other service passes
    proxy.set("503", "sqs")             # SQS answers ServiceUnavailable
    proxy.set("pass")                   # everything heals
    proxy.stop()

Modes:
    ``pass``: forward the request unchanged (the Host header too: the embedded AWS checks SigV4
    signatures, which sign it).
    ``refuse``: drop the connection without an answer; when every service is refused the proxy also
    stops listening, so new connections are refused as by a host that is down.
    ``503``: answer ``ServiceUnavailable`` in the service's error shape (JSON for the JSON protocols,
    XML for S3 and the query protocol), as AWS does during an outage.
    ``slow``: wait ``delay_seconds``, then forward, unless the client has given up by then (its call
    then never reaches the embedded AWS, as with a host that black-holes requests).

The service is read from the SigV4 credential scope (``…/us-east-1/dynamodb/aws4_request``), which
every AWS request signs, whatever its protocol; unsigned requests (the pond's readiness probe) count
as service ``other``.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

Mode = Literal["pass", "refuse", "503", "slow"]
MODES: tuple[str, ...] = get_args(Mode)
UNSIGNED = "other"
# Hop-by-hop framing is each connection's own; aiohttp frames both sides itself.
_HOP_BY_HOP = ("connection", "keep-alive", "transfer-encoding", "content-length", "te", "upgrade")
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/(?P<service>[^/,\s]+)/aws4_request")
T = TypeVar("T")


@dataclass(frozen=True)
class Fault:
    mode: Mode = "pass"
    delay_seconds: float = 0.0


class FaultProxy:
    """An HTTP reverse proxy to ``upstream_url`` on its own thread and event loop; thread-safe controls.

    ``seen`` counts requests by ``(service, mode)`` as they were handled (for a soak's fault table).
    """

    def __init__(self, upstream_url: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream_url = upstream_url.rstrip("/")
        self._host = host
        self._port = port
        self._default = Fault()
        self._by_service: dict[str, Fault] = {}
        self._lock = threading.Lock()  # the settings, read by every request on the proxy's loop
        self._control = threading.Lock()  # one set() at a time
        self.seen: Counter[tuple[str, str]] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.ServerRunner | None = None
        self._site: web.SockSite | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    def start(self) -> str:
        """Listen (on a free port unless one was given) and return the URL to use instead of the upstream's."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        self._run(self._open())
        return self.url

    def set(
        self, mode: Mode, service: str | None = None, delay_seconds: float = 1.0, operation: str | None = None
    ) -> None:
        """Apply ``mode`` to one service (``dynamodb``, ``sqs``, ``s3``, …), or to all when ``service`` is None.

        Setting all services replaces every per-service setting; ``delay_seconds`` is for ``slow`` only.
        ``operation`` narrows it to one action of a JSON-protocol service (``TransactWriteItems``): a
        request then fails after the calls before it went through, as a write does when DynamoDB
        fails between a request's reads and its write.

        Raises:
            ValueError: an unknown mode.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        fault = Fault(mode, delay_seconds if mode == "slow" else 0.0)
        with self._control:  # two callers' settings and the listening state they imply stay in step
            with self._lock:
                if service is None:
                    self._default, self._by_service = fault, {}
                else:
                    self._by_service[_key(service, operation)] = fault
                listening = not self._all_refused()
            self._run(self._listen(listening))

    def fault_for(self, service: str, operation: str | None = None) -> Fault:
        """What a request to ``service`` (and ``operation``) meets: the most specific setting that applies."""
        with self._lock:
            found = self._by_service.get(_key(service, operation)) if operation else None
            return found or self._by_service.get(_key(service, None), self._default)

    def stop(self) -> None:
        """Stop listening, close every connection, and end the proxy's thread."""
        if self._loop is None:
            return
        self._run(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- on the proxy's loop ------------------------------------------------------------------

    def _all_refused(self) -> bool:
        faults = [self._default, *self._by_service.values()]
        return all(fault.mode == "refuse" for fault in faults)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            raise RuntimeError("the fault proxy is not started")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    async def _open(self) -> None:
        # No timeout of our own: a slow upstream is the components' clients' to time out.
        self._session = aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None))
        server = web.Server(self._handle, access_log=None)
        self._runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await self._runner.setup()
        await self._listen(True)

    async def _listen(self, on: bool) -> None:
        if on and self._site is None and self._runner is not None:
            # create_server sets SO_REUSEADDR: the port comes back at once after a refusal, TIME_WAIT or not.
            sock = socket.create_server((self._host, self._port))
            self._port = sock.getsockname()[1]
            self._site = web.SockSite(self._runner, sock)
            await self._site.start()
        elif not on and self._site is not None:
            site, self._site = self._site, None
            await site.stop()

    async def _close(self) -> None:
        await self._listen(False)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
        # Requests still waiting out a ``slow`` delay end here, not when the loop is closed under them.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        service = service_of(request.headers)
        target = str(request.headers.get("X-Amz-Target", ""))  # e.g. DynamoDB_20120810.TransactWriteItems
        fault = self.fault_for(service, target.rpartition(".")[2] or None)
        with self._lock:
            self.seen[(service, fault.mode)] += 1
        if fault.mode == "refuse":
            if request.transport is not None:
                request.transport.abort()  # the client sees its connection reset, no answer
            return _unsent()
        try:
            if fault.mode == "503":
                await request.read()
                return unavailable(service, request.headers)
            if fault.mode == "slow":
                body = await request.read()
                await asyncio.sleep(fault.delay_seconds)
                if request.transport is None or request.transport.is_closing():
                    # The client timed out: its call never takes effect (a late one is another fault).
                    return _unsent()
                return await self._forward(request, body)
            return await self._forward(request, await request.read())
        except ConnectionError:
            return _unsent()  # the client gave up first (its own timeout, or its process was killed)

    async def _forward(self, request: web.BaseRequest, body: bytes) -> web.Response:
        if self._session is None:  # set by _open before the site listens
            raise RuntimeError("the fault proxy is not started")
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP)
        try:
            async with self._session.request(
                request.method, self.upstream_url + request.raw_path, headers=headers, data=body, allow_redirects=False
            ) as upstream:
                payload = await upstream.read()
                kept = CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP)
                return web.Response(status=upstream.status, body=payload, headers=kept)
        except aiohttp.ClientError as exc:
            # The embedded AWS itself is down: say so as a gateway would.
            return web.Response(status=502, text=f"fault proxy: upstream failed: {exc}")


def _unsent() -> web.Response:
    """What a handler returns once the client's connection is gone: aiohttp finds nothing to send it to."""
    return web.Response(status=499)


def _key(service: str, operation: str | None) -> str:
    return f"{service.lower()}.{operation.lower()}" if operation else service.lower()


def service_of(headers: Any) -> str:
    """The AWS service a request is for, from its SigV4 credential scope (``other`` when unsigned)."""
    match = _SCOPE.search(str(headers.get("Authorization", "")))
    return match["service"].lower() if match else UNSIGNED


def unavailable(service: str, headers: Any) -> web.Response:
    """A 503 ``ServiceUnavailable`` in the error shape the request's protocol parses."""
    message = f"{service} is unavailable (injected by the fault proxy)"
    request_id = str(uuid.uuid4())
    content_type = str(headers.get("Content-Type", ""))
    if headers.get("X-Amz-Target") or content_type.startswith("application/x-amz-json"):
        # awsJson 1.0/1.1 (DynamoDB, SQS, KMS, Secrets Manager): the code is the part after '#'.
        body = json.dumps({"__type": "com.amazonaws#ServiceUnavailable", "message": message})
        response_headers = {
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": "ServiceUnavailable",
            # SQS's JSON protocol maps errors back to its query-protocol codes through this header.
            "x-amzn-query-error": "ServiceUnavailable;Receiver",
        }
        return web.Response(status=503, text=body, content_type="application/x-amz-json-1.0", headers=response_headers)
    # REST-XML (S3) reads <Error> at the root; the query protocol reads it inside <ErrorResponse>.
    error = f"<Code>ServiceUnavailable</Code><Message>{message}</Message><RequestId>{request_id}</RequestId>"
    root = "Error" if service == "s3" else "ErrorResponse"
    body = f"<{root}>{error}</{root}>" if root == "Error" else f"<ErrorResponse><Error>{error}</Error></ErrorResponse>"
    return web.Response(status=503, text=body, content_type="application/xml", headers={"x-amz-request-id": request_id})
