"""The koi's websocket framing and handshake: RFC 6455's rules, whatever way the bytes are split."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from school_container.websocket_frames import (
    BINARY,
    CLOSE,
    CONTINUATION,
    MESSAGE_TOO_BIG,
    PING,
    PONG,
    PROTOCOL_ERROR,
    TEXT,
    FrameReader,
    HandshakeError,
    WebsocketProtocolError,
    accept_for,
    apply_mask,
    check_handshake_response,
    close_payload,
    encode_client_frame,
    handshake_request,
    parse_close,
)


def server_frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0, mask: bytes | None = None) -> bytes:
    """A frame as a server sends it (unmasked unless ``mask`` is given, which a server must not do)."""
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if mask is not None else 0
    length = len(payload)
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 1 << 16:
        header = bytes((first, mask_bit | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((first, mask_bit | 127)) + length.to_bytes(8, "big")
    if mask is None:
        return header + payload
    return header + mask + apply_mask(payload, mask)


def read_client_frame(frame: bytes) -> tuple[int, bytes]:
    """Opcode and unmasked payload of one masked client frame (what a server reads)."""
    assert frame[0] & 0x80, "client frames here are final"
    assert frame[1] & 0x80, "client frames must be masked"
    length, start = frame[1] & 0x7F, 2
    if length == 126:
        length, start = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, start = int.from_bytes(frame[2:10], "big"), 10
    mask, payload = frame[start : start + 4], frame[start + 4 :]
    assert len(payload) == length
    return frame[0] & 0x0F, apply_mask(payload, mask)


def feed_in_pieces(reader: FrameReader, stream: bytes, cuts: list[int]) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    edges = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
    for start, stop in itertools.pairwise(edges):
        out.extend(reader.feed(stream[start:stop]))
    return out


# --- the handshake ------------------------------------------------------------------------------------


def test_accept_matches_the_rfc_example() -> None:
    assert accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_request_names_path_query_host_key_and_extra_headers() -> None:
    request = handshake_request("wss://pond.example:8443/ws?token=t", "k3y", {"Authorization": "Bearer abc"})
    lines = request.decode().split("\r\n")
    assert lines[0] == "GET /ws?token=t HTTP/1.1"
    assert "Host: pond.example:8443" in lines
    assert {"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: k3y", "Sec-WebSocket-Version: 13"} <= set(
        lines
    )
    assert "Authorization: Bearer abc" in lines
    assert request.endswith(b"\r\n\r\n")


def answer(status: str = "101 Switching Protocols", *headers: str) -> bytes:
    return "\r\n".join([f"HTTP/1.1 {status}", *headers]).encode()


def test_a_proper_101_is_accepted() -> None:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    check_handshake_response(
        answer("101 Switching Protocols", "upgrade: WebSocket", f"Sec-WebSocket-Accept: {accept_for(key)}"), key
    )


@pytest.mark.parametrize(
    ("head", "status", "problem"),
    [
        (answer("401 Unauthorized", "Content-Type: application/json"), 401, "HTTP 401"),
        (answer("101 Switching Protocols", f"Sec-WebSocket-Accept: {accept_for('k')}"), 101, "Upgrade"),
        (answer("101 Switching Protocols", "Upgrade: websocket", "Sec-WebSocket-Accept: wrong"), 101, "does not match"),
        (
            answer(
                "101 Switching Protocols",
                "Upgrade: websocket",
                f"Sec-WebSocket-Accept: {accept_for('k')}",
                "Sec-WebSocket-Extensions: permessage-deflate",
            ),
            101,
            "extension",
        ),
        (b"SSH-2.0-OpenSSH_9.2", 0, "not an HTTP response"),
    ],
)
def test_anything_but_a_proper_101_is_refused_with_its_status(head: bytes, status: int, problem: str) -> None:
    with pytest.raises(HandshakeError, match=problem) as raised:
        check_handshake_response(head, "k")
    assert raised.value.status == status


# --- frames -------------------------------------------------------------------------------------------

payloads = st.binary(max_size=300)
messages = st.lists(st.tuples(st.sampled_from([TEXT, BINARY]), payloads), max_size=12)
pieces = st.lists(st.integers(min_value=0, max_value=10**6), max_size=20)


@given(messages, st.lists(st.integers(min_value=1, max_value=4), max_size=12), st.booleans(), pieces)
def test_messages_come_out_whole_and_in_order_however_fragmented_and_split(
    sent: list[tuple[int, bytes]], fragment_counts: list[int], pings_between: bool, cuts: list[int]
) -> None:
    stream, expected = b"", []
    for i, (opcode, payload) in enumerate(sent):
        count = fragment_counts[i] if i < len(fragment_counts) else 1
        size = -(-len(payload) // count) if payload else 0
        parts = [payload[j : j + size] for j in range(0, len(payload), size)] if size else [b""]
        for n, part in enumerate(parts):
            stream += server_frame(opcode if n == 0 else CONTINUATION, part, fin=n == len(parts) - 1)
            if pings_between and n < len(parts) - 1:
                stream += server_frame(PING, b"mid")  # control frames may come between fragments
                expected.append((PING, b"mid"))
        expected.append((opcode, payload))
    reader = FrameReader()
    assert feed_in_pieces(reader, stream, cuts) == expected
    assert reader.feed(b"") == []
    assert reader.failure is None


@given(
    st.integers(min_value=0, max_value=15),
    st.sampled_from([0, 126, 65_535, 65_536]).flatmap(lambda base: st.binary(min_size=base, max_size=base + 140)),
    st.booleans(),
    st.sampled_from([0, 0x40]),
    st.sampled_from([None, b"abcd"]),
    st.integers(min_value=1, max_value=70_000),
)
def test_a_frame_read_whole_comes_out_as_it_does_in_pieces(
    opcode: int, payload: bytes, fin: bool, rsv: int, mask: bytes | None, limit: int
) -> None:
    """The one-frame fast path of ``feed`` answers exactly what the general loop does, failures included."""
    frame = server_frame(opcode, payload, fin=fin, rsv=rsv, mask=mask)
    whole, split = FrameReader(max_message_bytes=limit), FrameReader(max_message_bytes=limit)
    cuts = [1, *range(2, len(frame), max(1, len(frame) // 16))]  # a prefix is never a whole frame: general path
    assert whole.feed(frame) == feed_in_pieces(split, frame, cuts)
    assert repr(whole.failure) == repr(split.failure)
    assert (whole.failure and whole.failure.close_code) == (split.failure and split.failure.close_code)


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 70_000])
def test_every_length_encoding_is_read(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    frame = server_frame(BINARY, payload)
    reader = FrameReader()
    assert reader.feed(frame[:-1]) == []  # one byte short: nothing yet
    assert reader.feed(frame[-1:]) == [(BINARY, payload)]


@pytest.mark.parametrize(
    ("stream", "problem"),
    [
        (server_frame(TEXT, b"{}", mask=b"abcd"), "masked"),
        (server_frame(TEXT, b"{}", rsv=0x40), "reserved bit"),
        (server_frame(0x3, b"?"), "unknown opcode"),
        (server_frame(PING, b"x", fin=False), "control frame"),
        (server_frame(PING, b"x" * 126), "control frame"),
        (server_frame(CONTINUATION, b"tail"), "no message to continue"),
        (server_frame(TEXT, b"he", fin=False) + server_frame(TEXT, b"llo"), "before the last one's final fragment"),
    ],
)
def test_protocol_violations_end_the_stream_after_what_came_before(stream: bytes, problem: str) -> None:
    reader = FrameReader()
    before = server_frame(TEXT, b"fine") + server_frame(PING, b"p")
    assert reader.feed(before + stream + server_frame(TEXT, b"after")) == [(TEXT, b"fine"), (PING, b"p")]
    assert reader.failure is not None
    assert problem in str(reader.failure)
    assert reader.failure.close_code == PROTOCOL_ERROR
    assert reader.feed(server_frame(TEXT, b"later")) == []  # nothing more is read


def test_a_message_over_the_limit_is_refused_as_too_big_whole_or_in_fragments() -> None:
    whole = FrameReader(max_message_bytes=100)
    assert whole.feed(server_frame(TEXT, b"x" * 101)[:4]) == []  # the header alone tells
    assert whole.failure is not None
    assert whole.failure.close_code == MESSAGE_TOO_BIG
    fragmented = FrameReader(max_message_bytes=100)
    fragmented.feed(server_frame(TEXT, b"x" * 60, fin=False) + server_frame(CONTINUATION, b"x" * 60))
    assert fragmented.failure is not None
    assert fragmented.failure.close_code == MESSAGE_TOO_BIG


# --- what the client sends ------------------------------------------------------------------------------


@given(st.sampled_from([PING, PONG, CLOSE, TEXT]), st.binary(max_size=70_000), st.binary(min_size=4, max_size=4))
def test_client_frames_are_masked_and_carry_their_payload(opcode: int, payload: bytes, mask: bytes) -> None:
    frame = encode_client_frame(opcode, payload, mask)
    assert read_client_frame(frame) == (opcode, payload)


@given(st.binary(max_size=100), st.binary(min_size=4, max_size=4))
def test_masking_twice_gives_the_payload_back(payload: bytes, mask: bytes) -> None:
    assert apply_mask(apply_mask(payload, mask), mask) == payload


def test_close_payload_round_trips_and_an_empty_one_has_no_code() -> None:
    assert parse_close(close_payload(1001, "going away")) == (1001, "going away")
    assert parse_close(b"") == (None, "")
    with pytest.raises(WebsocketProtocolError):
        parse_close(b"\x03")
