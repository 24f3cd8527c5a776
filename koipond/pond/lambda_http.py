"""Serve a Lambda handler over HTTP by turning each request into an API Gateway HTTP API (v2) event.

The handler is the very function AWS invokes; only the transport differs. One request runs at a
time, like one Lambda execution environment, because Powertools resolvers keep per-request state.
"""

from __future__ import annotations

import base64
import importlib
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
_TEXT_TYPES = ("application/json", "text/", "application/xml", "application/x-www-form-urlencoded")
MAX_BODY_BYTES = 6 * 1024 * 1024  # API Gateway's own payload limit for Lambda integrations


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline_ms: float = field(default_factory=lambda: time.time() * 1000 + 29_000)
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    function_version: str = "$LATEST"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.deadline_ms - time.time() * 1000))


def load_handler(dotted: str) -> LambdaHandler:
    """``package.module:function`` to the function."""
    module_name, _, attr = dotted.partition(":")
    handler: LambdaHandler = getattr(importlib.import_module(module_name), attr)
    return handler


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


class _Handler(BaseHTTPRequestHandler):
    server: LambdaHttpServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self._reply(
                413,
                {"content-type": "application/json"},
                b'{"error":{"code":"payload_too_large","message":"request body over 6 MB","details":{}}}',
            )
            return
        body = self.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            key = key.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        event = build_event(self.command, self.path, headers, body, self.client_address[0])
        started = time.perf_counter()
        with self.server.invoke_lock:
            result = self.server.handler(event, LocalLambdaContext(self.server.function_name))
        status = int(result.get("statusCode", 200))
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        out_headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[key.lower()] = ",".join(str(v) for v in values)
        self._reply(status, out_headers, payload, result.get("cookies") or [], with_body=self.command != "HEAD")
        elapsed_ms = (time.perf_counter() - started) * 1000
        print(
            f"{self.command} {urlsplit(self.path).path} {status} {elapsed_ms:.1f}ms",
            file=sys.stderr,
            flush=True,
        )

    def _reply(
        self,
        status: int,
        headers: dict[str, str],
        payload: bytes,
        cookies: list[str] | None = None,
        *,
        with_body: bool = True,
    ) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key not in {"content-length", "connection"}:
                self.send_header(key, value)
        for cookie in cookies or []:
            self.send_header("set-cookie", cookie)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if with_body:  # a HEAD answer announces the length but sends no body, or keep-alive clients desync
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return  # one access line per request is printed by _serve instead


class LambdaHttpServer(ThreadingHTTPServer):
    """An HTTP server that invokes ``handler`` once per request."""

    daemon_threads = True

    def __init__(self, host: str, port: int, handler: LambdaHandler, function_name: str) -> None:
        super().__init__((host, port), _Handler)
        self.handler = handler
        self.function_name = function_name
        self.invoke_lock = threading.Lock()
