"""The koi's websocket protocol without I/O: the opening handshake and RFC 6455 frames.

A Sans-I/O core (as python-websockets does it): bytes in, messages out, no sockets, no clock, so
every framing rule is property-tested in microseconds (tests/unit/test_websocket_frames.py) and the
driver in ``websocket.py`` only moves bytes. The School's own, rather than aiohttp's reader, because
at 20,000 koi a burst of thousands of events must cost as little as possible: one parse and one
callback per event, with no future, task wake-up or message object in between.

Only the client side: frames from the server arrive unmasked, frames to it are masked (§5.1).
Extensions (compression) are never offered, so the reserved bits must stay zero.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

# Opcodes (RFC 6455 §5.2).
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DATA_OPCODES = frozenset({TEXT, BINARY})
CONTROL_OPCODES = frozenset({CLOSE, PING, PONG})
# Close codes (§7.4.1).
NORMAL_CLOSURE, PROTOCOL_ERROR, INVALID_PAYLOAD, MESSAGE_TOO_BIG = 1000, 1002, 1007, 1009
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
_MAX_CONTROL_PAYLOAD = 125
_WHOLE_DATA_FIRST_BYTES = frozenset({0x80 | TEXT, 0x80 | BINARY})  # FIN, no reserved bit, a data opcode
MAX_HANDSHAKE_BYTES = 16 * 1024
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # aiohttp's default too


class WebsocketError(Exception):
    """A websocket could not be opened or kept: the koi counts it and reconnects with backoff."""


class WebsocketProtocolError(WebsocketError):
    """The peer broke RFC 6455; ``close_code`` is what to tell it on the way out."""

    def __init__(self, message: str, close_code: int = PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.close_code = close_code


class HandshakeError(WebsocketError):
    """The server did not upgrade the connection; ``status`` is its HTTP status (0 if unparsable)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


# --- the opening handshake (§4.1) -----------------------------------------------------------------------


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``key``."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID, usedforsecurity=False).digest()).decode()


def handshake_request(url: str, key: str, headers: Mapping[str, str]) -> bytes:
    """The HTTP/1.1 upgrade request for ``url`` (ws:// or wss://), with extra ``headers``."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def check_handshake_response(head: bytes, key: str) -> None:
    """Raise HandshakeError unless ``head`` (status line and headers) accepts the upgrade for ``key``."""
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1.") or not status_line[1].isdigit():
        raise HandshakeError(f"not an HTTP response: {lines[0][:80]!r}")
    status = int(status_line[1])
    if status != 101:
        raise HandshakeError(f"the server answered HTTP {status}, not 101 Switching Protocols", status)
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    if fields.get("upgrade", "").lower() != "websocket":
        raise HandshakeError("the 101 answer has no 'Upgrade: websocket'", status)
    if fields.get("sec-websocket-accept") != accept_for(key):
        raise HandshakeError("the 101 answer's Sec-WebSocket-Accept does not match the key", status)
    if fields.get("sec-websocket-extensions"):
        raise HandshakeError("the server turned on an extension that was not offered", status)


# --- frames (§5) --------------------------------------------------------------------------------------


def encode_client_frame(opcode: int, payload: bytes = b"", mask: bytes | None = None) -> bytes:
    """One final frame from the client: masked with ``mask`` (4 random bytes unless given)."""
    mask = os.urandom(4) if mask is None else mask
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    return header + mask + apply_mask(payload, mask)


def apply_mask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the repeating 4-byte ``mask`` (masking and unmasking are the same)."""
    if not payload:
        return b""
    repeats = (len(payload) + 3) // 4
    key = int.from_bytes((mask * repeats)[: len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(len(payload), "big")


def close_payload(code: int, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()[: _MAX_CONTROL_PAYLOAD - 2]


def parse_close(payload: bytes) -> tuple[int | None, str]:
    """The code and reason of a close frame's payload (no code when the payload is empty)."""
    if not payload:
        return None, ""
    if len(payload) == 1:
        raise WebsocketProtocolError("a close frame's payload of 1 byte")
    return int.from_bytes(payload[:2], "big"), payload[2:].decode("utf-8", "replace")


class FrameReader:
    """Turns the server's byte stream into whole messages: ``feed(data)`` -> ``[(opcode, payload)]``.

    Data messages (TEXT, BINARY) come out reassembled from their fragments; control frames (CLOSE,
    PING, PONG) come out as they arrive, even between fragments, as §5.4 allows. Payloads are bytes:
    a TEXT payload is handed on undecoded (``json.loads`` takes bytes and rejects bad UTF-8 itself).

    A violation of RFC 6455 ends the stream: the messages before it still come out, ``failure`` says
    what broke (and which close code to send), and nothing more is read.
    """

    __slots__ = ("_buffer", "_fragments", "_fragments_size", "_max_message", "_message_opcode", "failure")

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self._buffer = b""
        self._max_message = max_message_bytes
        self._message_opcode = 0  # of the fragmented message in progress, 0 when none
        self._fragments: list[bytes] = []
        self._fragments_size = 0
        self.failure: WebsocketProtocolError | None = None

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Every message completed by ``data`` (an incomplete frame waits for more), up to any violation."""
        if self.failure is not None:
            return []
        if not self._buffer and not self._message_opcode:
            whole = self._whole_data_frame(data)
            if whole is not None:
                return [whole]
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        out: list[tuple[int, bytes]] = []
        try:
            self._read(data, out)
        except WebsocketProtocolError as failure:
            self.failure, self._buffer = failure, b""
        return out

    def _whole_data_frame(self, data: bytes) -> tuple[int, bytes] | None:
        """``data`` as one final TEXT or BINARY frame, if that is exactly what it is (else None: the general path).

        Nearly every read of a koi's socket is one event in one frame: this answers it without the general
        loop, with the same result (tests/unit/test_websocket_frames.py holds the two to each other).
        """
        size = len(data)
        if size < 2 or data[0] not in _WHOLE_DATA_FIRST_BYTES:
            return None
        length = data[1]  # the mask bit set makes this >= 128: not this path
        if length < 126:
            start = 2
        elif length == 126 and size >= 4:
            length, start = int.from_bytes(data[2:4], "big"), 4
        else:
            return None
        if start + length != size or length > self._max_message:
            return None
        return data[0] & 0x0F, data[start:]

    def _read(self, data: bytes, out: list[tuple[int, bytes]]) -> None:
        pos, end = 0, len(data)
        while end - pos >= 2:
            first, second = data[pos], data[pos + 1]
            if second & 0x80:
                raise WebsocketProtocolError("the server masked a frame")
            if first & 0x70:
                raise WebsocketProtocolError("a reserved bit is set (no extension was agreed)")
            length, start = second & 0x7F, pos + 2
            if length == 126:
                if end - pos < 4:
                    break
                length, start = int.from_bytes(data[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                if end - pos < 10:
                    break
                length, start = int.from_bytes(data[pos + 2 : pos + 10], "big"), pos + 10
            if length > self._max_message:
                raise WebsocketProtocolError(f"a frame of {length} bytes is over the limit", MESSAGE_TOO_BIG)
            stop = start + length
            if stop > end:
                break
            self._take(first & 0x80, first & 0x0F, data[start:stop], out)
            pos = stop
        if pos < end:
            self._buffer = data[pos:]

    def _take(self, fin: int, opcode: int, payload: bytes, out: list[tuple[int, bytes]]) -> None:
        if opcode in CONTROL_OPCODES:
            if not fin or len(payload) > _MAX_CONTROL_PAYLOAD:
                raise WebsocketProtocolError("a control frame is fragmented or over 125 bytes")
            out.append((opcode, payload))
        elif opcode in DATA_OPCODES:
            if self._message_opcode:
                raise WebsocketProtocolError("a new message began before the last one's final fragment")
            if fin:
                out.append((opcode, payload))
            else:
                self._message_opcode = opcode
                self._fragments, self._fragments_size = [payload], len(payload)
        elif opcode == CONTINUATION:
            if not self._message_opcode:
                raise WebsocketProtocolError("a continuation frame with no message to continue")
            self._fragments_size += len(payload)
            if self._fragments_size > self._max_message:
                raise WebsocketProtocolError("a fragmented message is over the limit", MESSAGE_TOO_BIG)
            self._fragments.append(payload)
            if fin:
                out.append((self._message_opcode, b"".join(self._fragments)))
                self._message_opcode, self._fragments, self._fragments_size = 0, [], 0
        else:
            raise WebsocketProtocolError(f"unknown opcode {opcode:#x}")
