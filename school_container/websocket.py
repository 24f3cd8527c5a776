"""A koi's websocket: an asyncio protocol that hands each message to a callback as it arrives.

The School reads events here rather than through aiohttp's ``receive()`` because of what a burst
costs: the bundled target (and a real Slack-like service) delivers a popular channel's message to
thousands of koi at once, and with ``receive()`` each event meant a message object, a future, and a
wake-up of the koi's task, all queued ahead of the actions falling due meanwhile (`make bench` found
bursts of ~3,000 events holding the loop for ~80 ms). Here an event is one parse and one call, made
from ``data_received``; the koi's task sleeps until the connection ends.

Framing and the handshake are the pure ``websocket_frames`` module; this file moves bytes, answers
pings, keeps the heartbeat and closes. Liveness follows aiohttp's rule: a ping when nothing arrived
for ``heartbeat`` seconds, and the connection is dropped if still nothing arrives within half of it.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Callable, Mapping
from typing import cast
from urllib.parse import urlsplit

from school_container.websocket_frames import (
    CLOSE,
    MAX_HANDSHAKE_BYTES,
    NORMAL_CLOSURE,
    PING,
    PONG,
    FrameReader,
    HandshakeError,
    WebsocketError,
    WebsocketProtocolError,
    check_handshake_response,
    close_payload,
    encode_client_frame,
    handshake_request,
    new_key,
    parse_close,
)

CONNECT_TIMEOUT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 2.0  # how long a closing koi waits for the server's close before dropping the line
OnMessage = Callable[[bytes], None]


class KoiSocket(asyncio.Protocol):
    """One open websocket. ``ended`` completes when it is over, for any reason.

    ``ended`` holds an exception only if ``on_message`` raised: a bug in the koi, which the koi then
    raises as a crash. A server that closes, resets or breaks the protocol just ends the socket.
    """

    __slots__ = (
        "_awaiting_pong",
        "_close_sent",
        "_handshaking",
        "_head",
        "_heartbeat",
        "_heartbeat_timer",
        "_key",
        "_on_message",
        "_opened",
        "_reader",
        "_request",
        "_seen_data",
        "_transport",
        "close_code",
        "ended",
    )

    def __init__(
        self, key: str, request: bytes, on_message: OnMessage, heartbeat: float, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._key = key
        self._request = request
        self._on_message = on_message
        self._heartbeat = heartbeat
        self._transport: asyncio.Transport | None = None
        self._head = b""
        self._handshaking = True
        self._opened: asyncio.Future[None] | None = loop.create_future()  # dropped once the opener has seen it
        self.ended: asyncio.Future[None] = loop.create_future()
        self._reader = FrameReader()
        self._heartbeat_timer: asyncio.TimerHandle | None = None
        self._seen_data = False
        self._awaiting_pong = False
        self._close_sent = False
        self.close_code: int | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, though they are one.
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._request)
        self._request = b""

    def data_received(self, data: bytes) -> None:
        if self._handshaking:
            data = self._finish_handshake(data)
            if not data:
                return
        self._seen_data = True
        reader = self._reader
        for opcode, payload in reader.feed(data):
            if opcode == PING:
                self._write(encode_client_frame(PONG, payload))
            elif opcode == CLOSE:
                self._closed_by_server(payload)
                return
            elif opcode != PONG:
                try:
                    self._on_message(payload)
                except Exception as bug:  # a bug in the koi: handed to it, and it crashes with it
                    self._end(abort=True, error=bug)
                    return
        if reader.failure is not None:  # what came before the violation was delivered above
            self._send_close(reader.failure.close_code)
            self._end(abort=False)  # a graceful close flushes the close frame; an abort could drop it

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._handshaking:
            self._fail_open(ConnectionResetError("the connection closed during the websocket handshake"))
        self._end(abort=False)

    # --- the handshake ------------------------------------------------------------------------------

    async def wait_opened(self) -> None:
        """Until the server has accepted the upgrade (raises HandshakeError or OSError if it did not)."""
        if self._opened is not None:
            await self._opened
            self._opened = None

    def _finish_handshake(self, data: bytes) -> bytes:
        """Collect the 101 answer; return the bytes after it (frames may follow in the same read)."""
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_HANDSHAKE_BYTES:
                self._fail_open(HandshakeError("the server's handshake answer is over 16 KiB"))
                self._end(abort=True)
            return b""
        head, rest = self._head[:end], self._head[end + 4 :]
        self._head = b""
        try:
            check_handshake_response(head, self._key)
        except HandshakeError as error:
            self._fail_open(error)
            self._end(abort=True)
            return b""
        self._handshaking = False
        if self._opened is not None and not self._opened.done():  # the opener may have timed out and gone
            self._opened.set_result(None)
        self._arm_heartbeat(self._heartbeat)
        return rest

    def _fail_open(self, error: Exception) -> None:
        self._handshaking = False
        opened = self._opened
        if opened is not None and not opened.done():
            opened.set_exception(error)
            # Marked as seen: the opener raises it from wait_opened() if it is still there, but a koi
            # stopped mid-connect has gone, and asyncio would log the unread failure as an error.
            opened.exception()

    # --- heartbeat ----------------------------------------------------------------------------------

    def _arm_heartbeat(self, after: float) -> None:
        if self._heartbeat > 0 and self._transport is not None:
            loop = asyncio.get_running_loop()
            self._heartbeat_timer = loop.call_later(after, self._on_heartbeat)

    def _on_heartbeat(self) -> None:
        self._heartbeat_timer = None
        if self._seen_data:
            self._seen_data, self._awaiting_pong = False, False
            self._arm_heartbeat(self._heartbeat)
        elif self._awaiting_pong:
            self._end(abort=True)  # nothing, not even a pong, for 1.5 heartbeats: the line is dead
        else:
            self._awaiting_pong = True
            self._write(encode_client_frame(PING))
            self._arm_heartbeat(self._heartbeat / 2)

    # --- closing ------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close politely: send a close frame, give the server a moment to answer, then drop the line."""
        if self.ended.done():
            return
        self._send_close(NORMAL_CLOSURE)
        try:
            await asyncio.wait_for(asyncio.shield(self.ended), CLOSE_TIMEOUT_SECONDS)
        except TimeoutError:
            self._end(abort=True)

    def abort(self) -> None:
        """Drop the line at once (no close handshake)."""
        self._end(abort=True)

    def _closed_by_server(self, payload: bytes) -> None:
        try:
            self.close_code, _ = parse_close(payload)
        except WebsocketProtocolError:
            self.close_code = None
        self._send_close(NORMAL_CLOSURE)
        self._end(abort=False)

    def _send_close(self, code: int) -> None:
        if not self._close_sent:
            self._close_sent = True
            self._write(encode_client_frame(CLOSE, close_payload(code)))

    def _write(self, frame: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(frame)

    def _end(self, *, abort: bool, error: BaseException | None = None) -> None:
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
            self._heartbeat_timer = None
        if self._transport is not None:
            if abort:
                self._transport.abort()
            else:
                self._transport.close()
        if not self.ended.done():
            if error is None:
                self.ended.set_result(None)
            else:
                self.ended.set_exception(error)


async def open_koi_socket(
    url: str,
    headers: Mapping[str, str],
    on_message: OnMessage,
    heartbeat: float,
    connect_seconds: float = CONNECT_TIMEOUT_SECONDS,
    tls: ssl.SSLContext | None = None,
) -> KoiSocket:
    """Connect to ``url`` (ws:// or wss://) and complete the opening handshake.

    Args:
        url: The websocket URL.
        headers: Extra request headers (the koi's ``Authorization``).
        on_message: Called with each text or binary message's payload, from the event loop.
        heartbeat: Seconds of silence before a ping; 0 turns the heartbeat off.
        connect_seconds: Seconds for the connection and the handshake together.
        tls: For wss://, the TLS context; the system's CAs, verified, when not given.

    Raises:
        HandshakeError: the server did not upgrade (its status is on the error).
        OSError: the connection failed. TimeoutError: it took longer than ``connect_seconds``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise WebsocketError(f"not a ws:// or wss:// URL: {url!r}")
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    key = new_key()
    loop = asyncio.get_running_loop()
    socket = KoiSocket(key, handshake_request(url, key, headers), on_message, heartbeat, loop)
    async with asyncio.timeout(connect_seconds):
        await loop.create_connection(
            lambda: socket,
            parts.hostname,
            port,
            ssl=(tls or tls_context()) if secure else None,
            server_hostname=parts.hostname if secure else None,
        )
        try:
            await socket.wait_opened()
        except BaseException:
            socket.abort()
            raise
    return socket


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every wss:// koi (each context loads the CA store: ~1 MB, ~10 ms)."""
    return ssl.create_default_context()
