"""Websocket fan-out without sockets: frame encoding, members-only delivery, dropping for slow readers."""

from __future__ import annotations

import json
import struct
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slacklike_target.metrics import TargetMetrics, method_label, status_label
from slacklike_target.realtime import Connection, ConnectionHub, Delivery, encode_text_frame, rtm_reply
from slacklike_target.tokens import Identity
from slacklike_target.wire import ErrorCode


class FakeTransport:
    def __init__(self, buffered: int = 0) -> None:
        self.buffered = buffered
        self.written: list[bytes] = []
        self.closing = False

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: bytes) -> None:
        self.written.append(data)


class FakeWebSocket:
    closed = False


def connect(hub: ConnectionHub, workspace: str, index: int, buffered: int = 0) -> FakeTransport:
    transport = FakeTransport(buffered)
    hub.add(Connection(Identity(workspace, index), cast(Any, FakeWebSocket()), cast(Any, transport)))
    return transport


def decode_text_frame(frame: bytes) -> bytes:
    """The payload of one final, unmasked text frame (what a client would read)."""
    first, second = frame[0], frame[1]
    assert first == 0x81
    assert second & 0x80 == 0, "server frames are unmasked"
    length, offset = second & 0x7F, 2
    if length == 126:
        (length,), offset = struct.unpack("!H", frame[2:4]), 4
    elif length == 127:
        (length,), offset = struct.unpack("!Q", frame[2:10]), 10
    assert len(frame) == offset + length
    return frame[offset:]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_frames_use_the_shortest_length_encoding(size: int) -> None:
    payload = b"x" * size
    frame = encode_text_frame(payload)
    assert decode_text_frame(frame) == payload
    header = len(frame) - size
    assert header == (2 if size < 126 else 4 if size < 65536 else 10)


@given(st.binary(max_size=70_000))
def test_any_payload_round_trips_through_a_frame(payload: bytes) -> None:
    assert decode_text_frame(encode_text_frame(payload)) == payload


def written_events(transport: FakeTransport) -> list[dict[str, Any]]:
    return [json.loads(decode_text_frame(frame)) for frame in transport.written]


def test_fan_out_reaches_connected_members_only_and_all_their_connections() -> None:
    hub = ConnectionHub(TargetMetrics())
    member_phone, member_laptop = connect(hub, "pond", 1), connect(hub, "pond", 1)
    other_member, outsider = connect(hub, "pond", 2), connect(hub, "pond", 3)
    other_workspace = connect(hub, "elsewhere", 1)
    result = hub.fan_out("pond", {1, 2, 99}, {"type": "message", "text": "hi"})
    assert (result.sent, result.dropped) == (3, 0)
    for transport in (member_phone, member_laptop, other_member):
        assert written_events(transport) == [{"type": "message", "text": "hi"}]
    assert outsider.written == other_workspace.written == []


def test_fan_out_to_everyone_reaches_the_whole_workspace() -> None:
    hub = ConnectionHub(TargetMetrics())
    transports = [connect(hub, "pond", i) for i in range(5)]
    assert hub.fan_out("pond", None, {"type": "message"}).sent == 5
    assert all(len(t.written) == 1 for t in transports)


def test_a_slow_reader_misses_events_and_they_are_counted() -> None:
    metrics = TargetMetrics()
    hub = ConnectionHub(metrics, max_buffer_bytes=1000)
    fast, slow = connect(hub, "pond", 1), connect(hub, "pond", 2, buffered=1001)
    result = hub.fan_out("pond", {1, 2}, {"type": "reaction_added"})
    assert (result.sent, result.dropped) == (1, 1)
    assert len(fast.written) == 1
    assert slow.written == []
    assert metrics.registry.get_sample_value("koi_pond_target_websocket_events_dropped_total") == 1
    sent = metrics.registry.get_sample_value("koi_pond_target_websocket_events_sent_total", {"type": "reaction_added"})
    assert sent == 1


def test_closing_connections_are_skipped_and_removed_ones_forgotten() -> None:
    metrics = TargetMetrics()
    hub = ConnectionHub(metrics)
    closing = connect(hub, "pond", 1)
    closing.closing = True
    assert hub.fan_out("pond", None, {"type": "message"}).sent == 0
    connection = Connection(Identity("pond", 2), cast(Any, FakeWebSocket()), cast(Any, FakeTransport()))
    hub.add(connection)
    assert len(hub) == 2
    hub.remove(connection)
    hub.remove(connection)
    assert len(hub) == 1
    assert metrics.registry.get_sample_value("koi_pond_target_websocket_connections") == 1


def test_deliver_reports_what_happened() -> None:
    transport = FakeTransport(buffered=10)
    connection = Connection(Identity("pond", 1), cast(Any, FakeWebSocket()), cast(Any, transport))
    assert connection.deliver(b"x", max_buffer_bytes=10) is Delivery.SENT
    assert connection.deliver(b"x", max_buffer_bytes=9) is Delivery.DROPPED
    transport.closing = True
    assert connection.deliver(b"x", max_buffer_bytes=10) is Delivery.GONE


@pytest.mark.parametrize(
    ("incoming", "reply"),
    [
        ('{"type": "ping", "id": 7}', {"type": "pong", "reply_to": 7}),
        ('{"type": "ping"}', {"type": "pong"}),
        ('{"type": "typing"}', None),
        ("not json", None),
        ("[1, 2]", None),
    ],
)
def test_rtm_pings_get_pongs(incoming: str, reply: dict[str, Any] | None) -> None:
    answer = rtm_reply(incoming)
    assert (json.loads(answer) if answer else None) == reply


def test_metric_labels_stay_bounded() -> None:
    assert method_label("chat.postMessage") == "chat.postMessage"
    assert method_label("chat.postMessage2") == "other"
    assert status_label(200, None) == "200"
    assert status_label(200, ErrorCode.INVALID_AUTH) == "invalid_auth"
    assert status_label(503, ErrorCode.SERVICE_UNAVAILABLE) == "503"
    assert status_label(429, ErrorCode.RATELIMITED) == "429"
