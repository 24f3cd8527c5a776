"""The School's Sans-I/O HTTP/1.1 core: requests out, responses in, however the bytes are split."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from koipond.metric_names import CALL_STATUSES
from school_container.http1 import (
    ClientConnection,
    ConnectionState,
    EarlyCloseError,
    HttpError,
    InvalidRequestError,
    MalformedResponseError,
    Origin,
    Response,
    ResponseParser,
    bearer_line,
    encode_request,
    header_lines,
    split_url,
)
from school_container.http_client import CallTimeoutError, ConnectError

RESERVED = {"content-length", "transfer-encoding", "connection", "keep-alive"}
statuses = st.integers(200, 599).filter(lambda s: s not in (204, 304))
header_names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20).filter(
    lambda n: n not in RESERVED
)
header_values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)
headers_lists = st.lists(st.tuples(header_names, header_values), max_size=8)
bodies = st.binary(max_size=3000)


def serialise(status: int, headers: list[tuple[str, str]], body: bytes, framing: str, chunk_sizes: list[int]) -> bytes:
    """A response framed by Content-Length, by chunks of ``chunk_sizes`` (cycled), or by the close."""
    head = [f"HTTP/1.1 {status} Whatever", *(f"{name}: {value}" for name, value in headers)]
    if framing == "length":
        head.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == "chunked":
        head.append("Transfer-Encoding: chunked")
        parts, at, i = [], 0, 0
        while at < len(body):
            size = chunk_sizes[i % len(chunk_sizes)]
            chunk = body[at : at + size]
            parts.append(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            at, i = at + size, i + 1
        payload = b"".join(parts) + b"0\r\n\r\n"
    else:
        head.append("Connection: close")
        payload = body
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def expected(status: int, headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in headers]


@settings(max_examples=300)
@given(
    statuses,
    headers_lists,
    bodies,
    st.sampled_from(["length", "chunked"]),
    st.lists(st.integers(1, 700), min_size=1, max_size=5),
    st.lists(st.integers(0, 10_000), max_size=12),
)
def test_a_framed_response_parses_the_same_however_it_is_split(
    status: int, headers: list[tuple[str, str]], body: bytes, framing: str, chunks: list[int], cuts: list[int]
) -> None:
    parser = ResponseParser()
    out: list[Response] = []
    for piece in pieces(serialise(status, headers, body, framing, chunks), cuts):
        out.extend(parser.feed(piece))
    assert parser.failure is None
    assert len(out) == 1
    response = out[0]
    assert (response.status, response.body, response.keep_alive) == (status, body, True)
    assert [h for h in response.headers if h[0] not in (b"content-length", b"transfer-encoding")] == expected(
        status, headers
    )


@settings(max_examples=200)
@given(
    st.tuples(statuses, headers_lists, bodies, st.sampled_from(["length", "chunked"])),
    st.tuples(statuses, headers_lists, bodies, st.sampled_from(["length", "chunked"])),
    st.lists(st.integers(1, 500), min_size=1, max_size=4),
    st.lists(st.integers(0, 10_000), max_size=12),
)
def test_two_pipelined_responses_split_anywhere_parse_to_both(
    first: tuple[int, list[tuple[str, str]], bytes, str],
    second: tuple[int, list[tuple[str, str]], bytes, str],
    chunks: list[int],
    cuts: list[int],
) -> None:
    data = serialise(*first, chunks) + serialise(*second, chunks)
    parser = ResponseParser()
    out = [response for piece in pieces(data, cuts) for response in parser.feed(piece)]
    assert parser.failure is None
    assert [(r.status, r.body) for r in out] == [(first[0], first[2]), (second[0], second[2])]


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=400), st.lists(st.integers(0, 1000), max_size=8))
def test_garbage_is_a_clean_error_never_a_response_or_a_hang(garbage: bytes, cuts: list[int]) -> None:
    assume(b"HTTP/" not in garbage)
    connection = ClientConnection()
    connection.send(b"GET / HTTP/1.1\r\n\r\n")
    failure: HttpError | None = None
    try:
        for piece in pieces(garbage, cuts):
            assert connection.receive(piece) is None
        connection.receive_eof()  # the server's close is the latest a verdict comes
    except HttpError as error:
        failure = error
    assert failure is not None
    assert connection.state == ConnectionState.CLOSED


@settings(max_examples=200)
@given(statuses, bodies, st.binary(min_size=1, max_size=200), st.sampled_from(["length", "chunked"]))
def test_a_response_followed_by_garbage_is_answered_but_the_line_is_not_reused(
    status: int, body: bytes, garbage: bytes, framing: str
) -> None:
    assume(garbage.strip(b"\r\n"))  # empty lines between messages are allowed (RFC 9112 §2.2)
    connection = ClientConnection()
    connection.send(b"GET / HTTP/1.1\r\n\r\n")
    response = connection.receive(serialise(status, [], body, framing, [7]) + garbage)
    assert response is not None
    assert (response.status, response.body) == (status, body)
    assert connection.state == ConnectionState.CLOSED


@settings(max_examples=300)
@given(
    statuses,
    st.binary(min_size=1, max_size=2000),
    st.sampled_from(["length", "chunked"]),
    st.lists(st.integers(1, 300), min_size=1, max_size=4),
    st.integers(0, 100_000),
)
def test_an_early_close_of_a_framed_response_is_an_error(
    status: int, body: bytes, framing: str, chunks: list[int], cut: int
) -> None:
    data = serialise(status, [], body, framing, chunks)
    connection = ClientConnection()
    connection.send(b"GET / HTTP/1.1\r\n\r\n")
    assert connection.receive(data[: cut % len(data)]) is None
    with pytest.raises(EarlyCloseError):
        connection.receive_eof()


@settings(max_examples=200)
@given(statuses, bodies, st.lists(st.integers(0, 10_000), max_size=8))
def test_a_close_delimited_body_ends_successfully_at_the_close(status: int, body: bytes, cuts: list[int]) -> None:
    connection = ClientConnection()
    connection.send(b"GET / HTTP/1.1\r\n\r\n")
    for piece in pieces(serialise(status, [], body, "close", [1]), cuts):
        assert connection.receive(piece) is None
    response = connection.receive_eof()
    assert response is not None
    assert (response.status, response.body, response.keep_alive) == (status, body, False)


def test_a_keep_alive_response_leaves_the_connection_reusable() -> None:
    connection = ClientConnection()
    connection.send(b"GET / HTTP/1.1\r\n\r\n")
    assert connection.receive(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi") == Response(
        200, ((b"content-length", b"2"),), b"hi", True
    )
    assert connection.state == ConnectionState.IDLE
    connection.send(b"GET / HTTP/1.1\r\n\r\n")
    assert connection.state == ConnectionState.AWAITING


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    ],
)
def test_a_response_that_ends_the_connection_is_not_reused(answer: bytes) -> None:
    connection = ClientConnection()
    connection.send(b"GET / HTTP/1.1\r\n\r\n")
    assert connection.receive(answer) is not None
    assert connection.state == ConnectionState.CLOSED
    with pytest.raises(RuntimeError):
        connection.send(b"GET / HTTP/1.1\r\n\r\n")


def test_bytes_while_no_request_is_out_spoil_the_connection() -> None:
    connection = ClientConnection()
    connection.send(b"GET / HTTP/1.1\r\n\r\n")
    connection.receive(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert connection.receive(b"HTTP/1.1 408 Request Timeout\r\n\r\n") is None
    assert connection.state == ConnectionState.CLOSED


def test_interim_1xx_answers_are_skipped_and_204_has_no_body() -> None:
    parser = ResponseParser()
    out = parser.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    assert [(r.status, r.body, r.keep_alive) for r in out] == [(204, b"", True)]


def test_a_body_over_the_limit_is_a_bad_response() -> None:
    parser = ResponseParser(max_body_bytes=10)
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n01234567890") == []
    assert isinstance(parser.failure, MalformedResponseError)
    assert parser.failure.status == "bad_response"


def test_headers_over_the_limit_are_a_bad_response() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\n" + b"x-big: " + b"a" * 70_000 + b"\r\n\r\n")
    assert isinstance(parser.failure, MalformedResponseError)


def test_a_request_carries_host_length_headers_and_body() -> None:
    origin, target = split_url("http://example.test:8080/api/chat.postMessage?x=1", {"channel": "C 1"})
    assert origin == Origin("http", "example.test", 8080)
    assert target == "/api/chat.postMessage?x=1&channel=C+1"
    request = encode_request("POST", origin, target, {"Authorization": "Bearer t"}, b'{"a":1}')
    assert request == (
        b"POST /api/chat.postMessage?x=1&channel=C+1 HTTP/1.1\r\nHost: example.test:8080\r\n"
        b'Authorization: Bearer t\r\nContent-Length: 7\r\n\r\n{"a":1}'
    )


def test_default_ports_stay_out_of_the_host_header_and_bodiless_gets_have_no_length() -> None:
    origin, target = split_url("https://example.test")
    assert (origin, target) == (Origin("https", "example.test", 443), "/")
    assert encode_request("GET", origin, target, {}, None) == b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n"
    assert b"Content-Length: 0" in encode_request("POST", origin, target, {}, None)


@pytest.mark.parametrize("value", ["t\r\nX-Injected: 1", "t\nx", "t\r"])
def test_a_header_with_cr_or_lf_is_refused(value: str) -> None:
    origin, target = split_url("http://example.test/")
    with pytest.raises(InvalidRequestError):
        encode_request("GET", origin, target, {"Authorization": value}, None)


@pytest.mark.parametrize("url", ["ftp://example.test/", "http:///nohost", "http://example.test:99999/"])
def test_urls_that_cannot_be_called_are_refused(url: str) -> None:
    with pytest.raises(InvalidRequestError):
        split_url(url)


def test_every_failure_counts_as_a_known_call_status() -> None:
    failures = [HttpError, MalformedResponseError, EarlyCloseError, InvalidRequestError, ConnectError, CallTimeoutError]
    assert {failure.status for failure in failures} <= set(CALL_STATUSES)
    assert (CallTimeoutError.status, ConnectError.status, MalformedResponseError.status) == (
        "timeout",
        "connect_error",
        "bad_response",
    )


def reference_request(method: str, origin: Origin, target: str, headers: dict[str, str], body: bytes | None) -> bytes:
    """The request bytes as the first version of the client wrote them, line by line."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host_header}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body) if body else 0}")
    if any("\r" in line or "\n" in line for line in lines):
        raise InvalidRequestError("CR or LF")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


header_text = st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=30)


@settings(max_examples=300)
@given(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "G\rET"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0xFF), max_size=30).map(lambda t: "/" + t)
    | st.just("/a\nb"),
    st.dictionaries(header_names, header_text, max_size=4),
    st.none() | st.binary(max_size=50),
)
def test_requests_are_the_bytes_the_first_version_wrote(
    method: str, target: str, headers: dict[str, str], body: bytes | None
) -> None:
    origin = Origin("http", "example.test", 8080)
    try:
        expected_bytes: bytes | type[InvalidRequestError] = reference_request(method, origin, target, headers, body)
    except InvalidRequestError:
        expected_bytes = InvalidRequestError
    if expected_bytes is InvalidRequestError:
        with pytest.raises(InvalidRequestError):
            encode_request(method, origin, target, headers, body)
    else:
        assert encode_request(method, origin, target, headers, body) == expected_bytes


@given(header_text)
def test_the_bearer_line_is_the_authorization_header_line(token: str) -> None:
    try:
        expected_line: bytes | None = header_lines({"Authorization": f"Bearer {token}"})
    except InvalidRequestError:
        expected_line = None
    if expected_line is None:
        with pytest.raises(InvalidRequestError):
            bearer_line(token)
    else:
        assert bearer_line(token) == expected_line
