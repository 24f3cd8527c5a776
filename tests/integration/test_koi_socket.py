"""The koi's own websocket client over real sockets: the bundled target, and servers that misbehave."""

from __future__ import annotations

import asyncio
import datetime
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from koipond import workspace as ws
from school_container.websocket import KoiSocket, open_koi_socket
from school_container.websocket_frames import (
    CLOSE,
    PING,
    PONG,
    TEXT,
    HandshakeError,
    accept_for,
    close_payload,
)
from tests.integration.target_harness import Target, run_target
from tests.unit.test_websocket_frames import read_client_frame, server_frame

C1 = ws.channel_id(1)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def ws_url(target: Target) -> str:
    return str(target.client.make_url("/ws")).replace("http://", "ws://", 1)


async def open_as(target: Target, user: int, got: list[bytes], heartbeat: float = 30.0) -> KoiSocket:
    return await open_koi_socket(
        ws_url(target), {"Authorization": f"Bearer {target.token(user)}"}, got.append, heartbeat
    )


async def until(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    """Poll ``condition`` (filled by a socket callback, which sets no event) until it holds."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the condition is a list a callback appends to
            await asyncio.sleep(0.01)


# --- against the bundled target -------------------------------------------------------------------------


def test_events_reach_the_callback_as_they_arrive() -> None:
    async def scenario(t: Target) -> None:
        await t.call("conversations.join", 2, channel=C1)
        got: list[bytes] = []
        socket = await open_as(t, 2, got)
        ts = await t.post(1, C1, "hello koi", client_sent_at=1718000000.5)
        await until(lambda: len(got) == 2)
        assert json.loads(got[0]) == {"type": "hello"}
        event = json.loads(got[1])
        assert (event["type"], event["ts"], event["text"], event["client_sent_at"]) == (
            "message",
            ts,
            "hello koi",
            1718000000.5,
        )
        await socket.close()
        assert socket.ended.done()
        assert socket.ended.exception() is None

    run_target(scenario)


def test_a_refused_upgrade_says_the_status() -> None:
    async def scenario(t: Target) -> None:
        with pytest.raises(HandshakeError, match="HTTP 401") as raised:
            await open_koi_socket(ws_url(t), {"Authorization": "Bearer not-a-token"}, lambda _: None, 30)
        assert raised.value.status == 401

    run_target(scenario)


def test_the_servers_pings_are_answered_so_it_keeps_the_line() -> None:
    async def scenario(t: Target) -> None:
        # The target pings every 0.2 s and drops a client that has not answered within 0.1 s more.
        socket = await open_as(t, 1, [], heartbeat=0)
        await asyncio.sleep(1.0)
        assert not socket.ended.done()
        await socket.close()

    run_target(scenario, websocket_heartbeat_seconds=0.2)


# --- against a hand-written server ----------------------------------------------------------------------


@asynccontextmanager
async def raw_server(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def accept_upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    """Read the client's upgrade request and accept it; return the request head."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    key = next(
        line.split(":", 1)[1].strip() for line in head.split("\r\n") if line.lower().startswith("sec-websocket-key")
    )
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n".encode()
    )
    return head


async def next_client_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = await reader.readexactly(2)
    length, extended = header[1] & 0x7F, b""
    if length in (126, 127):
        extended = await reader.readexactly(2 if length == 126 else 8)
        length = int.from_bytes(extended, "big")
    return read_client_frame(header + extended + await reader.readexactly(4 + length))


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(scenario(), timeout=20)

    uvloop.run(bounded())


def test_a_silent_server_is_pinged_then_dropped() -> None:
    frames: list[tuple[int, bytes]] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        frames.append(await next_client_frame(reader))  # the ping; never answered
        await reader.read()  # until the client drops the line

    async def scenario() -> None:
        async with raw_server(silent) as port:
            socket = await open_koi_socket(f"ws://127.0.0.1:{port}/ws", {}, lambda _: None, heartbeat=0.2)
            started = asyncio.get_running_loop().time()
            await asyncio.wait_for(asyncio.shield(socket.ended), 2)
            assert 0.25 <= asyncio.get_running_loop().time() - started < 1.0  # a heartbeat, then half of one
        assert frames == [(PING, b"")]

    run(scenario)


def test_a_server_that_talks_between_heartbeats_is_not_pinged() -> None:
    frames: list[tuple[int, bytes]] = []

    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        for _ in range(10):
            writer.write(server_frame(TEXT, b'{"type":"tick"}'))
            await asyncio.sleep(0.05)
        frames.append(await next_client_frame(reader))

    async def scenario() -> None:
        got: list[bytes] = []
        async with raw_server(chatty) as port:
            socket = await open_koi_socket(f"ws://127.0.0.1:{port}/ws", {}, got.append, heartbeat=0.2)
            await until(lambda: len(got) == 10)
            await socket.close()
        assert frames == [(CLOSE, close_payload(1000))]  # its first frame is the close: no ping was needed

    run(scenario)


def test_server_close_and_pings_are_answered_and_the_request_carries_the_headers() -> None:
    seen: dict[str, object] = {}

    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["head"] = await accept_upgrade(reader, writer)
        writer.write(server_frame(TEXT, b"first", fin=False) + server_frame(PING, b"are you there"))
        writer.write(server_frame(0, b" second") + server_frame(CLOSE, close_payload(1001, "going away")))
        seen["frames"] = [await next_client_frame(reader), await next_client_frame(reader)]

    async def scenario() -> None:
        got: list[bytes] = []
        async with raw_server(closing) as port:
            socket = await open_koi_socket(
                f"ws://127.0.0.1:{port}/ws?x=1", {"Authorization": "Bearer t"}, got.append, 30
            )
            await asyncio.wait_for(asyncio.shield(socket.ended), 2)
        assert got == [b"first second"]
        assert socket.close_code == 1001
        assert seen["frames"] == [(PONG, b"are you there"), (CLOSE, close_payload(1000))]
        head = str(seen["head"])
        assert head.startswith("GET /ws?x=1 HTTP/1.1\r\n")
        assert "Authorization: Bearer t" in head

    run(scenario)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "HTTP 200"),
        (b"garbage\r\n\r\n", "not an HTTP response"),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: nope\r\n\r\n",
            "does not match",
        ),
    ],
)
def test_a_server_answering_garbage_fails_the_open(answer: bytes, problem: str) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await reader.read()

    async def scenario() -> None:
        async with raw_server(garbage) as port:
            with pytest.raises(HandshakeError, match=problem):
                await open_koi_socket(f"ws://127.0.0.1:{port}/ws", {}, lambda _: None, 30)

    run(scenario)


def test_a_reset_during_the_handshake_is_a_connection_error() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async def scenario() -> None:
        async with raw_server(hang_up) as port:
            with pytest.raises(ConnectionError):
                await open_koi_socket(f"ws://127.0.0.1:{port}/ws", {}, lambda _: None, 30)

    run(scenario)


def test_a_protocol_violation_ends_the_socket_with_a_1002_close() -> None:
    frames: list[tuple[int, bytes]] = []

    async def masking(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        writer.write(server_frame(TEXT, b"{}", mask=b"abcd"))
        frames.append(await next_client_frame(reader))

    async def scenario() -> None:
        got: list[bytes] = []
        async with raw_server(masking) as port:
            socket = await open_koi_socket(f"ws://127.0.0.1:{port}/ws", {}, got.append, 30)
            await asyncio.wait_for(asyncio.shield(socket.ended), 2)
        assert got == []
        assert socket.ended.exception() is None
        assert frames == [(CLOSE, close_payload(1002))]

    run(scenario)


def test_a_failing_callback_ends_the_socket_with_its_error() -> None:
    async def one_event(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        writer.write(server_frame(TEXT, b"boom") + server_frame(TEXT, b"never read"))
        await reader.read()

    def explode(payload: bytes) -> None:
        raise RuntimeError(f"koi bug on {payload!r}")

    async def scenario() -> None:
        async with raw_server(one_event) as port:
            socket = await open_koi_socket(f"ws://127.0.0.1:{port}/ws", {}, explode, 30)
            with pytest.raises(RuntimeError, match="koi bug on b'boom'"):
                await asyncio.wait_for(asyncio.shield(socket.ended), 2)

    run(scenario)


# --- wss:// ---------------------------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_wss_verifies_the_servers_certificate(tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(cert_file))

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await accept_upgrade(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # the untrusting client hung up in the TLS handshake
        writer.write(server_frame(TEXT, b'{"type":"hello"}'))
        await reader.read()

    async def scenario() -> None:
        got: list[bytes] = []
        async with raw_server(greet, server_tls) as port:
            url = f"wss://localhost:{port}/ws"
            with pytest.raises(ssl.SSLCertVerificationError):
                await open_koi_socket(url, {}, got.append, 30)  # the system's CAs do not know this one
            socket = await open_koi_socket(url, {}, got.append, 30, tls=trusting)
            await until(lambda: got == [b'{"type":"hello"}'])
            await socket.close()

    run(scenario)
