"""The School's HTTP/1.1 client without I/O: requests out as bytes, responses in through llhttp.

A Sans-I/O core like ``websocket_frames.py``: no sockets, no clock, so every framing rule is
property-tested in microseconds (tests/unit/test_http1_parser.py) and the driver in ``http_client.py``
only moves bytes. Responses are parsed by llhttp (Node's parser, through httptools): status line,
headers, Content-Length and chunked bodies are its job, not ours. What llhttp cannot know is left
here: a close-delimited body ends at EOF (httptools does not expose ``llhttp_finish``), and whether a
connection may carry another request.

The client never pipelines: one request, then its whole response, then the next request. Bytes past
the response are therefore never a response of ours, and the connection is not reused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlencode, urlsplit

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

MAX_HEAD_BYTES = 64 * 1024
# A cap on one answer: Slack-like answers are kilobytes, and a School holds thousands of calls at once.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
_BODYLESS_STATUSES = frozenset({204, 304})
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class HttpError(Exception):
    """A call that got no usable answer; ``status`` is the School's metric status it counts as."""

    status = "connect_error"


class MalformedResponseError(HttpError):
    """The server answered with something that is not an HTTP/1.x response (or one over a limit)."""

    status = "bad_response"


class EarlyCloseError(HttpError):
    """The connection ended before the response did."""


class InvalidRequestError(HttpError):
    """A request that cannot be sent (not an http(s) URL, CR or LF in a header): nothing was sent."""


class Origin(NamedTuple):
    """Where a connection goes; connections are pooled per origin."""

    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def split_url(url: str, params: Mapping[str, str] | None = None) -> tuple[Origin, str]:
    """The origin of ``url`` and its request target (path and query, with ``params`` appended).

    Raises:
        InvalidRequestError: not http(s), or no host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(f"not an http:// or https:// URL: {url[:200]!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise InvalidRequestError(str(error)) from error
    query = "&".join(q for q in (parts.query, urlencode(params) if params else "") if q)
    target = (parts.path or "/") + (f"?{query}" if query else "")
    return Origin(parts.scheme, parts.hostname, port), target


def request_head(method: str, origin: Origin, target: str) -> bytes:
    """The request line and ``Host`` header of a request, CRLF-terminated (the part a client may cache).

    Raises:
        InvalidRequestError: the method or target holds CR or LF (it would smuggle a header or a request).
    """
    head = f"{method} {target} HTTP/1.1\r\nHost: {origin.host_header}\r\n"
    if head.count("\n") != 2 or head.count("\r") != 2:
        raise InvalidRequestError("CR or LF inside the request line")
    return head.encode("latin-1")


def header_lines(headers: Mapping[str, str]) -> bytes:
    """``Name: value`` lines, each CRLF-terminated, as ``request_tail`` takes them.

    Raises:
        InvalidRequestError: a header holds CR or LF (it would smuggle a header or a request).
    """
    text = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    if text.count("\n") != len(headers) or text.count("\r") != len(headers):
        raise InvalidRequestError("CR or LF inside a header")
    return text.encode("latin-1")


def bearer_line(token: str) -> bytes:
    """``header_lines({"Authorization": f"Bearer {token}"})``, without the dict and the join (one per koi call).

    Raises:
        InvalidRequestError: the token holds CR or LF.
    """
    if "\r" in token or "\n" in token:
        raise InvalidRequestError("CR or LF inside a header")
    return b"Authorization: Bearer " + token.encode("latin-1") + b"\r\n"


def request_tail(method: str, lines: bytes, body: bytes | None) -> bytes:
    """Everything after ``request_head``: the header ``lines`` (from ``header_lines``), the framing, the body."""
    if body is not None or method in _METHODS_WITH_BODY:
        # Sent even when 0: nginx answers a POST without a length with 411.
        lines += b"Content-Length: %d\r\n" % (len(body) if body else 0)
    return lines + b"\r\n" + body if body else lines + b"\r\n"


def encode_request(method: str, origin: Origin, target: str, headers: Mapping[str, str], body: bytes | None) -> bytes:
    """The bytes of one request. Keep-alive is HTTP/1.1's default, so no ``Connection`` header is sent.

    Raises:
        InvalidRequestError: a header or the target holds CR or LF (it would smuggle a header or a request).
    """
    return request_head(method, origin, target) + request_tail(method, header_lines(headers), body)


@dataclass(slots=True)
class Response:
    """One whole response; header names are lower-cased, in the order they came. Read-only by convention.

    Not a frozen dataclass: one is built per call, and a frozen one takes three times as long to build.
    """

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    keep_alive: bool


class ResponseParser:
    """Turns a connection's byte stream into responses: ``feed(data)`` -> ``[Response]``.

    As ``FrameReader`` does, a violation ends the stream: responses before it still come out,
    ``failure`` says what broke, and nothing more is read. ``feed_eof()`` is the connection's end.
    """

    __slots__ = (
        "_body",
        "_body_size",
        "_done",
        "_head_done",
        "_head_size",
        "_headers",
        "_in_message",
        "_max_body",
        "_parser",
        "failure",
        "more_followed",
    )

    def __init__(self, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self._parser = HttpResponseParser(self)
        self._max_body = max_body_bytes
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._body_size = self._head_size = 0
        self._in_message = self._head_done = False
        self._done: list[Response] = []
        self.failure: HttpError | None = None
        # Whether, in the last feed, a message began after a response completed (even an interim 1xx).
        self.more_followed = False

    @property
    def in_message(self) -> bool:
        """Whether a response has begun and not ended (an EOF now may cut it short)."""
        return self._in_message

    def feed(self, data: bytes) -> list[Response]:
        """Every response completed by ``data``, up to any violation (then ``failure`` is set)."""
        if self.failure is not None:
            return []
        self.more_followed = False
        try:
            self._parser.feed_data(data)
        except HttpParserError as error:
            cause = error.__context__
            self.failure = cause if isinstance(cause, HttpError) else MalformedResponseError(str(error))
        except HttpParserUpgrade:
            self.failure = MalformedResponseError("the server switched protocols, which was never asked for")
        done, self._done = self._done, []
        return done

    def feed_eof(self) -> Response | None:
        """The response a close completes (a close-delimited body), or None; a cut response sets ``failure``."""
        if self.failure is not None or not self._in_message:
            return None
        if self._head_done and self._close_delimited():
            self._in_message = False
            return self._response(keep_alive=False)
        self.failure = EarlyCloseError("the connection closed in the middle of a response")
        return None

    def _close_delimited(self) -> bool:
        """Whether the current response's body ends at EOF: no length, not chunked (RFC 9112 §6.3)."""
        status = self._parser.get_status_code()
        if status < 200 or status in _BODYLESS_STATUSES:
            return False
        for name, value in self._headers:
            if name == b"content-length" or (
                name == b"transfer-encoding" and value.rstrip().lower().endswith(b"chunked")
            ):
                return False
        return True

    # --- httptools callbacks (an exception raised here comes back out of feed_data as its context) ----

    def on_message_begin(self) -> None:
        if self._done:
            self.more_followed = True
        self._in_message, self._head_done = True, False
        self._headers, self._body = [], []
        self._body_size = self._head_size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value)
        if self._head_size > MAX_HEAD_BYTES:
            raise MalformedResponseError("the response's headers are over 64 KiB")
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        # How the body is framed matters only if the connection ends before the response does: worked out then.
        self._head_done = True

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._max_body:
            raise MalformedResponseError(f"the response's body is over {self._max_body} bytes")
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        parser = self._parser
        status = parser.get_status_code()
        if status >= 200:  # 1xx are interim: the real answer follows
            body = self._body
            whole = body[0] if len(body) == 1 else b"".join(body)
            self._done.append(Response(status, tuple(self._headers), whole, parser.should_keep_alive()))

    def _response(self, keep_alive: bool) -> Response:
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        return Response(self._parser.get_status_code(), tuple(self._headers), body, keep_alive)


class ConnectionState:
    IDLE = "idle"  # may carry a request
    AWAITING = "awaiting"  # a request is out, its response not complete
    CLOSED = "closed"  # never to be used again


class ClientConnection:
    """One connection's rules: when a request may go out, and whether the line may carry another.

    IDLE --send--> AWAITING --whole keep-alive response--> IDLE; anything else --> CLOSED. A response
    with ``Connection: close``, HTTP/1.0 without keep-alive, bytes beyond the response, bytes while no
    request is out, a violation and an EOF all close the line.
    """

    __slots__ = ("_parser", "state")

    def __init__(self, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self._parser = ResponseParser(max_body_bytes)
        self.state = ConnectionState.IDLE

    def send(self, request: bytes) -> bytes:
        """The bytes to write for ``request``; only an IDLE connection may send."""
        if self.state != ConnectionState.IDLE:
            raise RuntimeError(f"a request on a connection that is {self.state}")
        self.state = ConnectionState.AWAITING
        return request

    def receive(self, data: bytes) -> Response | None:
        """The response ``data`` completes, if any.

        Raises:
            HttpError: the response is malformed (the connection is then CLOSED).
        """
        if self.state != ConnectionState.AWAITING:
            self.state = ConnectionState.CLOSED  # unsolicited bytes: a 408 before a close, or garbage
            return None
        responses = self._parser.feed(data)
        if not responses:
            if self._parser.failure is not None:
                self.state = ConnectionState.CLOSED
                raise self._parser.failure
            return None
        response = responses[0]
        parser = self._parser
        spoiled = len(responses) > 1 or parser.failure is not None or parser.more_followed
        reusable = response.keep_alive and not spoiled
        self.state = ConnectionState.IDLE if reusable else ConnectionState.CLOSED
        return response

    def receive_eof(self) -> Response | None:
        """The response the peer's close completes, if any; the connection is CLOSED.

        Raises:
            HttpError: a request was out and its response is incomplete or malformed.
        """
        awaiting = self.state == ConnectionState.AWAITING
        self.state = ConnectionState.CLOSED
        if not awaiting:
            return None
        response = self._parser.feed_eof()
        if response is not None:
            return response
        raise self._parser.failure or EarlyCloseError("the connection closed before the response began")
