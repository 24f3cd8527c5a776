"""Serve a Lambda handler over HTTP by turning each request into an API Gateway HTTP API (v2) event.

The handler is the very function AWS invokes; only the transport differs. aiohttp frames HTTP/1.1
(keep-alive, chunked bodies, malformed requests) and bounds how long a client may take; the handler
runs in worker processes (:mod:`local_pond.lambda_runtime`), several requests at once, as
concurrent Lambda execution environments would.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDict

from local_pond.lambda_runtime import (
    DEFAULT_WORKERS,
    AllWorkersBusyError,
    InProcessInvoker,
    Invoker,
    WorkerProcessInvoker,
)
from local_pond.lambda_worker import HandlerFailedError, LambdaHandler, LocalLambdaContext, load_handler

__all__ = ["HttpLimits", "LambdaHandler", "LambdaHttpServer", "LocalLambdaContext", "build_event", "load_handler"]

_TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")
MAX_BODY_BYTES = 6 * 1024 * 1024  # API Gateway's own payload limit for Lambda integrations
# Hop-by-hop framing is the server's business; a handler's value for these would desync the connection.
_FRAMING_HEADERS = ("content-length", "transfer-encoding", "connection", "keep-alive")


@dataclass(frozen=True)
class HttpLimits:
    """How much, and how long, the server waits for a client and for the handler."""

    max_body_bytes: int = MAX_BODY_BYTES
    # Also how long a client may take to send a request's headers: a connection is dropped when it
    # has sent no complete request this long after connecting or after its previous answer.
    idle_seconds: float = 15.0
    # From the end of the headers to the end of the body; also how long a body the handler never read
    # (a 413, a 408) is read and dropped before the connection is reused or closed.
    body_seconds: float = 10.0
    invoke_seconds: float = 29.0  # API Gateway's integration timeout; also the wait for a free worker


def build_event(method: str, raw_path: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2.0 event, as API Gateway would send it."""
    parts = urlsplit(raw_path)
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value  # v2 joins repeats with commas
    now = datetime.now(UTC)
    content_type = headers.get("content-type", "")
    is_text = not body or (content_type.startswith(_TEXT_TYPES) and _is_utf8(body))
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": headers,
        "queryStringParameters": query or None,
        "cookies": [c.strip() for c in headers.get("cookie", "").split(";") if c.strip()] or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": body.decode() if is_text else base64.b64encode(body).decode(),
        "isBase64Encoded": not is_text,
    }


def _is_utf8(body: bytes) -> bool:
    # A "text" body that is not UTF-8 travels base64-encoded, so the handler (not the adapter) rejects it.
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def _error(status: int, code: str, message: str) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": {}}}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


class _JsonErrorProtocol(RequestHandler):
    """aiohttp's connection protocol, answering the errors it detects itself (malformed requests) as JSON."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("an answer has begun: no error answer can follow it")
        if status >= 500:
            self.log_exception("error handling a request", exc_info=exc)
        code = "bad_request" if status < 500 else "internal_error"
        response = _error(status, code, message if status < 500 and message else "the request could not be served")
        response.force_close()  # after a framing error the rest of the stream cannot be trusted
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        # aiohttp takes no option for the protocol class; this is its own factory with ours.
        return _JsonErrorProtocol(self, loop=self._loop, **self._kwargs)


class LambdaHttpServer:
    """An HTTP server that invokes a Lambda handler once per request.

    ``handler`` as ``package.module:function`` runs in ``workers`` worker processes, each serving one
    request at a time. A function object runs in this process, one request at a time (tests use this
    to serve a Keeper they injected).
    """

    def __init__(
        self,
        host: str,
        port: int,
        handler: LambdaHandler | str,
        function_name: str,
        *,
        workers: int = DEFAULT_WORKERS,
        limits: HttpLimits | None = None,
    ) -> None:
        self.limits = limits or HttpLimits()
        self.invoker: Invoker = (
            WorkerProcessInvoker(handler, function_name, workers, self.limits.invoke_seconds)
            if isinstance(handler, str)
            else InProcessInvoker(handler, function_name)
        )
        # Bound now, as http.server did: the port is known and connections queue before serving starts.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.create_server((host, port), family=family, backlog=128)
        self.invoker.launch()  # the first worker imports the handler while this process gets ready
        self.server_address: tuple[str, int] = self._socket.getsockname()[:2]
        self._stop_requested = False
        self._stopped = threading.Event()
        self._guard = threading.Lock()
        self._wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` is called from another thread (or Ctrl-C in the main thread).

        Raises:
            HandlerFailedError: a worker process could not import the handler.
        """
        try:
            asyncio.run(self._serve())
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop serving (answers in progress get a few seconds) and wait until :meth:`serve_forever` returns."""
        with self._guard:
            self._stop_requested = True
            wake = self._wake
        if wake is not None and not self._stopped.is_set():
            loop, event = wake
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop has just closed on its own
                return
            self._stopped.wait()

    def server_close(self) -> None:
        self._socket.close()

    async def _serve(self) -> None:
        wake = asyncio.Event()
        with self._guard:
            if self._stop_requested:
                return
            self._wake = (asyncio.get_running_loop(), wake)
        server = _JsonErrorServer(
            self._handle,
            keepalive_timeout=self.limits.idle_seconds,
            lingering_time=self.limits.body_seconds,
            access_log=None,  # one line per request is printed by _handle instead
            auto_decompress=False,  # API Gateway hands a gzip body to the handler as it came
        )
        runner = web.ServerRunner(server, shutdown_timeout=5.0)
        try:
            await self.invoker.start()
            await runner.setup()
            await web.SockSite(runner, self._socket).start()
            await wake.wait()
        finally:
            await runner.cleanup()
            await self.invoker.close()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        response = await self._answer(request)
        elapsed_ms = (time.perf_counter() - started) * 1000
        print(f"{request.method} {request.path} {response.status} {elapsed_ms:.1f}ms", file=sys.stderr, flush=True)
        return response

    async def _answer(self, request: web.BaseRequest) -> web.Response:
        limits = self.limits
        if (request.content_length or 0) > limits.max_body_bytes:
            # Keep-alive stays framed: aiohttp reads and drops the unread body before the next request.
            return _too_large(limits)
        try:
            async with asyncio.timeout(limits.body_seconds):
                body = await _read_body(request, limits.max_body_bytes)
        except TimeoutError:
            response = _error(408, "request_timeout", f"the body did not arrive within {limits.body_seconds:g}s")
            response.force_close()  # the connection is mid-body: nothing after it can be framed
            return response
        if body is None:
            return _too_large(limits)
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            key = key.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        event = build_event(request.method, request.raw_path, headers, body, request.remote or "")
        try:
            result = await self.invoker.invoke(event)
        except AllWorkersBusyError:
            return _error(503, "busy", f"no worker was free within {limits.invoke_seconds:g}s")
        except TimeoutError:
            return _error(504, "handler_timeout", f"the handler ran longer than {limits.invoke_seconds:g}s")
        except HandlerFailedError:
            return _error(502, "handler_failed", "the handler failed; its traceback is in the server's log")
        return _lambda_response(result)


async def _read_body(request: web.BaseRequest, max_bytes: int) -> bytes | None:
    """The whole body (chunked or not), or None once it is over ``max_bytes``."""
    if request.headers.get("expect", "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > max_bytes:
            return None
    return bytes(body)


def _too_large(limits: HttpLimits) -> web.Response:
    return _error(413, "payload_too_large", f"request body over {limits.max_body_bytes} bytes")


def _lambda_response(result: dict[str, Any]) -> web.Response:
    """The HTTP answer an API Gateway v2 integration builds from the handler's result."""
    raw = result.get("body") or ""
    payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
    headers: CIMultiDict[str] = CIMultiDict()
    for key, value in (result.get("headers") or {}).items():
        headers[key.lower()] = str(value)
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[key.lower()] = ",".join(str(v) for v in values)
    for name in _FRAMING_HEADERS:
        headers.popall(name, None)
    for cookie in result.get("cookies") or []:
        headers.add("set-cookie", cookie)
    return web.Response(status=int(result.get("statusCode", 200)), body=payload, headers=headers)
