"""Websocket sessions and event fan-out that never waits for a slow client.

Fan-out writes each event synchronously, from the call that produced it, to every recipient's
transport, and drops (and counts) it for a recipient whose send buffer already holds more than
``max_buffer_bytes``. Why not ``await ws.send_str`` per recipient, or a task per send:

- awaiting sends one after another lets one slow reader stall every other recipient;
- a task (or a queue) per recipient and event costs memory exactly when the target is overloaded:
  an org-wide reaction storm is thousands of events times thousands of members, and if sends fall
  behind, queued tasks grow without bound. Written synchronously, the cost shows up as the latency
  of the call that fans out (what a load test should see), and memory stays bounded by the buffers.

Server-to-client frames are unmasked (RFC 6455 §5.1), so an event is encoded into one frame once
and the same bytes go to every recipient. Frames are written to the connection's own asyncio
transport, as aiohttp's writer does for uncompressed frames; compression is off, which also saves
each connection its zlib state (~0.3 MB). aiohttp still handles the handshake, incoming frames,
ping/pong heartbeats and close.
"""

from __future__ import annotations

import asyncio
import enum
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from slacklike_target.metrics import TargetMetrics
from slacklike_target.tokens import Identity

HELLO = json.dumps({"type": "hello"})
# Clients send little (RTM-style pings), so a small cap keeps each connection's reader small.
MAX_INCOMING_MESSAGE_BYTES = 64 * 1024
DEFAULT_MAX_BUFFER_BYTES = 64 * 1024
_FIN_TEXT = 0x81


def encode_text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame carrying ``payload`` (the server-to-client form)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", _FIN_TEXT, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, length)
    return header + payload


def encode_event(event: dict[str, Any]) -> bytes:
    return encode_text_frame(json.dumps(event, separators=(",", ":")).encode())


def rtm_reply(data: str) -> str | None:
    """The answer to a client message: RTM-style ``{"type": "ping", "id": n}`` gets a pong, the rest nothing."""
    try:
        message = json.loads(data)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("type") != "ping":
        return None
    reply: dict[str, Any] = {"type": "pong"}
    if isinstance(message.get("id"), int | str):
        reply["reply_to"] = message["id"]
    return json.dumps(reply)


class Delivery(enum.Enum):
    SENT = "sent"
    DROPPED = "dropped"
    GONE = "gone"


class Connection:
    """One open websocket of one user; small on purpose (thousands are held at once)."""

    __slots__ = ("identity", "transport", "ws")

    def __init__(self, identity: Identity, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self.identity = identity
        self.ws = ws
        self.transport = transport

    def deliver(self, frame: bytes, max_buffer_bytes: int) -> Delivery:
        """Write ``frame`` now, or drop it when the client is not keeping up; never waits."""
        transport = self.transport
        if self.ws.closed or transport.is_closing():
            return Delivery.GONE
        if transport.get_write_buffer_size() > max_buffer_bytes:
            return Delivery.DROPPED
        transport.write(frame)
        return Delivery.SENT


@dataclass(frozen=True, slots=True)
class FanOut:
    sent: int
    dropped: int


class ConnectionHub:
    """Open connections by workspace and user, and fan-out to a channel's connected members."""

    def __init__(self, metrics: TargetMetrics, max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES) -> None:
        self._metrics = metrics
        self._max_buffer_bytes = max_buffer_bytes
        self._users: dict[str, dict[int, list[Connection]]] = {}
        self._count = 0
        self._closing: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return self._count

    def add(self, connection: Connection) -> None:
        users = self._users.setdefault(connection.identity.workspace, {})
        users.setdefault(connection.identity.index, []).append(connection)
        self._count += 1
        self._metrics.websocket_connections.inc()

    def remove(self, connection: Connection) -> None:
        users = self._users.get(connection.identity.workspace, {})
        held = users.get(connection.identity.index, [])
        if connection not in held:
            return
        held.remove(connection)
        if not held:
            del users[connection.identity.index]
        self._count -= 1
        self._metrics.websocket_connections.dec()

    def _recipients(self, workspace: str, members: set[int] | None) -> Iterator[Connection]:
        users = self._users.get(workspace)
        if not users:
            return
        if members is None:
            for held in users.values():
                yield from held
        elif len(members) < len(users):
            for member in members:
                yield from users.get(member, ())
        else:
            for user, held in users.items():
                if user in members:
                    yield from held

    def fan_out(self, workspace: str, members: set[int] | None, event: dict[str, Any]) -> FanOut:
        """Send ``event`` to every connection of ``members`` (None: the whole workspace)."""
        frame = encode_event(event)
        sent = dropped = 0
        for connection in self._recipients(workspace, members):
            outcome = connection.deliver(frame, self._max_buffer_bytes)
            if outcome is Delivery.SENT:
                sent += 1
            elif outcome is Delivery.DROPPED:
                dropped += 1
        self._metrics.event_sent(str(event.get("type")), sent)
        if dropped:
            self._metrics.events_dropped.inc(dropped)
        return FanOut(sent, dropped)

    async def serve(self, connection: Connection) -> None:
        """Greet the client, register it for fan-out, and serve its incoming frames until it goes."""
        ws = connection.ws
        self.add(connection)
        try:
            # Registered before the hello is written, so the client misses nothing sent after it.
            await ws.send_str(HELLO)
            self._metrics.event_sent("hello")
            async for message in ws:
                if message.type is WSMsgType.TEXT and (reply := rtm_reply(message.data)) is not None:
                    await ws.send_str(reply)
                    self._metrics.event_sent("pong")
        except ConnectionResetError:
            pass  # the client left mid-write: nothing to clean up beyond unregistering it
        finally:
            self.remove(connection)

    def reset_all(self) -> int:
        """Close every open websocket (as a restart would); returns how many are being closed."""
        connections = self._all()
        if connections:
            task = asyncio.get_running_loop().create_task(_close(connections, WSCloseCode.SERVICE_RESTART))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return len(connections)

    async def close_all(self) -> None:
        """Close every websocket for shutdown, and wait for it."""
        await _close(self._all(), WSCloseCode.GOING_AWAY)

    def _all(self) -> list[Connection]:
        return [c for users in self._users.values() for held in users.values() for c in held]


async def _close(connections: list[Connection], code: WSCloseCode) -> None:
    await asyncio.gather(*(c.ws.close(code=code) for c in connections), return_exceptions=True)
