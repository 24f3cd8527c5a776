"""The target's websocket over real sockets: hello, members-only fan-out, lag echo, slow readers."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import aiohttp
import pytest

from koipond import workspace as ws
from tests.integration.target_harness import Target, next_event, run_target

C1, C2 = ws.channel_id(1), ws.channel_id(2)
GENERAL = ws.ORG_WIDE_CHANNEL_ID


def test_messages_reach_connected_members_only_with_client_sent_at_echoed() -> None:
    async def scenario(t: Target) -> None:
        for user in (1, 2):
            await t.call("conversations.join", user, channel=C1)
        poster_phone, poster_laptop = await t.connect(1), await t.connect(1)
        member, outsider = await t.connect(2), await t.connect(3)
        ts = await t.post(1, C1, "standup?", client_msg_id="cm-1", client_sent_at=1718000000.25)
        expected = {
            "type": "message",
            "channel": C1,
            "user": "U00000001",
            "text": "standup?",
            "ts": ts,
            "client_msg_id": "cm-1",
            "client_sent_at": 1718000000.25,
        }
        for receiver in (poster_phone, poster_laptop, member):
            assert await next_event(receiver) == expected
        # The next thing the outsiders hear is a later org-wide post, so they never got the first one.
        later = await t.post(4, GENERAL, "lunch", client_sent_at="1718000001.5")
        for receiver in (outsider, member):
            event = await next_event(receiver)
            assert (event["ts"], event["channel"], event["client_sent_at"]) == (later, GENERAL, 1718000001.5)

    run_target(scenario)


def test_other_workspaces_hear_nothing() -> None:
    async def scenario(t: Target) -> None:
        elsewhere = await t.connect(1, "elsewhere")
        await t.post(1, GENERAL, "pond only")
        with pytest.raises(asyncio.TimeoutError):
            await elsewhere.receive(timeout=0.3)

    run_target(scenario)


def test_reactions_are_fanned_out_to_channel_members() -> None:
    async def scenario(t: Target) -> None:
        await t.call("conversations.join", 2, channel=C2)
        ts = await t.post(1, C2, "ship it")
        member, outsider = await t.connect(2), await t.connect(3)
        answer = await t.call("reactions.add", 2, channel=C2, timestamp=ts, name="rocket")
        assert answer.body == {"ok": True}
        event = await next_event(member)
        event_ts = event.pop("event_ts")
        assert event == {
            "type": "reaction_added",
            "user": "U00000002",
            "reaction": "rocket",
            "item": {"type": "message", "channel": C2, "ts": ts},
            "item_user": "U00000001",
        }
        assert float(event_ts) > float(ts)
        await t.post(5, GENERAL, "marker")
        assert (await next_event(outsider))["text"] == "marker"

    run_target(scenario)


def test_the_token_may_come_as_a_query_parameter_and_pings_get_pongs() -> None:
    async def scenario(t: Target) -> None:
        ws_ = await t.client.ws_connect(f"/ws?token={t.token(9)}")
        assert await next_event(ws_) == {"type": "hello"}
        await ws_.send_json({"type": "ping", "id": 3})
        assert await next_event(ws_) == {"type": "pong", "reply_to": 3}
        await ws_.close()

    run_target(scenario)


@pytest.mark.parametrize("query", ["", "?token=xoxp-pond-1-0123456789abcdef0123456789abcdef"])
def test_websockets_without_a_valid_token_are_refused(query: str) -> None:
    async def scenario(t: Target) -> None:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await t.client.ws_connect(f"/ws{query}")
        assert refused.value.status == 401
        async with t.client.get(f"/ws{query}") as plain:
            assert (plain.status, (await plain.json())["error"]) == (401, "invalid_auth")
        async with t.client.get("/ws", headers={"Authorization": f"Bearer {t.token(1)}"}) as not_upgraded:
            assert (not_upgraded.status, (await not_upgraded.json())["error"]) == (426, "upgrade_required")
        metrics = await t.metrics()
        assert 'koi_pond_target_requests_total{method="websocket",status="invalid_auth"} 2.0' in metrics
        assert 'koi_pond_target_requests_total{method="websocket",status="upgrade_required"} 1.0' in metrics

    run_target(scenario)


def test_connections_are_counted_and_forgotten_when_clients_leave() -> None:
    async def scenario(t: Target) -> None:
        sockets = [await t.connect(i) for i in range(3)]
        assert len(t.ctx.hub) == 3
        assert "koi_pond_target_websocket_connections 3.0" in await t.metrics()
        for socket_ in sockets:
            await socket_.close()
        for _ in range(100):
            if len(t.ctx.hub) == 0:
                break
            await asyncio.sleep(0.01)
        assert len(t.ctx.hub) == 0
        assert "koi_pond_target_websocket_connections 0.0" in await t.metrics()

    run_target(scenario)


async def stalled_websocket(t: Target, index: int) -> socket.socket:
    """A websocket client that completes the handshake, then never reads (a tiny receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (t.client.host, t.client.port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {t.client.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {t.token(index)}\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    received = b""
    while b"\r\n\r\n" not in received:
        received += await loop.sock_recv(sock, 1)
    assert received.startswith(b"HTTP/1.1 101")
    return sock


def dropped_events(t: Target) -> float:
    return t.ctx.metrics.registry.get_sample_value("koi_pond_target_websocket_events_dropped_total") or 0.0


def test_a_stalled_reader_misses_events_without_slowing_anyone_else() -> None:
    async def scenario(t: Target) -> None:
        stalled = await stalled_websocket(t, 2)
        reader = await t.connect(3)
        received: list[str] = []

        async def read_until_done() -> None:
            while not received or received[-1] != "done":
                received.append((await next_event(reader))["text"])

        reading = asyncio.create_task(read_until_done())
        posted: list[str] = []
        # Kernel socket buffers absorb the first few MB, however large this machine makes them;
        # after that the stalled client's transport buffer grows and its events are dropped.
        while dropped_events(t) == 0 and len(posted) < 4000:
            posted.append(f"{len(posted):05d}" + "x" * 30_000)
            await t.post(1, GENERAL, posted[-1])
        await t.post(1, GENERAL, "done")
        await asyncio.wait_for(reading, timeout=10)
        assert dropped_events(t) > 0
        assert received == [*posted, "done"], "the reading member got every event, in order"
        stalled.close()

    run_target(scenario, websocket_max_buffer_bytes=16 * 1024)
