"""The target's admin side over real HTTP: token minting, fault injection, metrics and health."""

from __future__ import annotations

import random
import time
from typing import Any

import aiohttp
import pytest

from koipond import workspace as ws
from tests.integration.target_harness import ADMIN_TOKEN, Target, run_target

MINT = "admin.tokens.mint"


def test_minted_tokens_work_for_their_users() -> None:
    async def scenario(t: Target) -> None:
        ranged = await t.call(MINT, ADMIN_TOKEN, workspace="pond", start=10, end=13)
        assert ranged.body["ok"]
        assert sorted(ranged.body["tokens"]) == ["10", "11", "12"]
        listed = await t.call(MINT, ADMIN_TOKEN, workspace="pond", users=[500, 7, 7])
        assert sorted(listed.body["tokens"]) == ["500", "7"]
        assert listed.body["tokens"]["7"] == t.token(7)
        who = await t.call("auth.test", ranged.body["tokens"]["12"])
        assert who.body["user_id"] == "U00000012"
        empty = await t.call(MINT, ADMIN_TOKEN, workspace="pond", start=5, end=5)
        assert empty.body == {"ok": True, "tokens": {}}

    run_target(scenario)


def test_minting_needs_the_admin_token() -> None:
    async def scenario(t: Target) -> None:
        for token in (None, "wrong-admin-token", ADMIN_TOKEN + "x", t.token(0)):
            answer = await t.call(MINT, token, workspace="pond", start=0, end=1)
            assert (answer.status, answer.body) == (401, {"ok": False, "error": "not_authed"})
        assert 'koi_pond_target_requests_total{method="admin.tokens.mint",status="not_authed"} 4.0' in await t.metrics()

    run_target(scenario)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"workspace": "pond", "start": 0, "end": 10_001}, "too_many_users"),
        ({"workspace": "pond", "users": list(range(10_001))}, "too_many_users"),
        ({"workspace": "pond", "start": 5, "end": 2}, "invalid_arguments"),
        ({"workspace": "pond", "start": 0}, "invalid_arguments"),
        ({"workspace": "pond", "start": 0, "end": 1, "users": [1]}, "invalid_arguments"),
        ({"workspace": "pond"}, "invalid_arguments"),
        ({"workspace": "not a workspace", "start": 0, "end": 1}, "invalid_arguments"),
        ({"workspace": "pond", "users": [-1]}, "invalid_arguments"),
        ({"workspace": "pond", "users": [100_000_000]}, "invalid_arguments"),
        ({"start": 0, "end": 1}, "invalid_arguments"),
    ],
)
def test_mint_limits_and_bad_requests(args: dict[str, Any], error: str) -> None:
    async def scenario(t: Target) -> None:
        answer = await t.call(MINT, ADMIN_TOKEN, **args)
        assert (answer.status, answer.error) == (200, error)

    run_target(scenario)


def test_ten_thousand_tokens_in_one_call() -> None:
    async def scenario(t: Target) -> None:
        answer = await t.call(MINT, ADMIN_TOKEN, workspace="pond", start=0, end=10_000)
        assert len(answer.body["tokens"]) == 10_000

    run_target(scenario)


def test_injected_errors_follow_the_seeded_rate() -> None:
    seed, calls = 21, 60

    async def scenario(t: Target) -> None:
        put = await t.admin("PUT", "/admin/faults", {"route": "users.info", "error_rate": 0.5, "status": 503})
        assert (put.status, put.body["ok"], put.body["active"]) == (200, True, True)
        statuses = [(await t.call("users.info", 1, http="GET", user="U00000002")).status for _ in range(calls)]
        draws = random.Random(seed)
        assert statuses == [503 if draws.random() < 0.5 else 200 for _ in range(calls)]
        assert (await t.call("auth.test", 1)).status == 200, "other routes are untouched"
        failed = await t.call("users.info", 1, http="GET", user="U00000002")
        while failed.status != 503:
            failed = await t.call("users.info", 1, http="GET", user="U00000002")
        assert failed.body == {"ok": False, "error": "service_unavailable"}
        metrics = await t.metrics()
        errors = statuses.count(503) + 1
        assert f'koi_pond_target_faults_injected_total{{kind="error",method="users.info"}} {errors:.1f}' in metrics
        assert f'koi_pond_target_requests_total{{method="users.info",status="503"}} {errors:.1f}' in metrics

    run_target(scenario, seed=seed)


def test_rate_limiting_answers_429_with_retry_after() -> None:
    async def scenario(t: Target) -> None:
        fault = {"route": "*", "error_rate": 1, "status": 429, "retry_after_seconds": 3}
        assert (await t.admin("PUT", "/admin/faults", fault)).status == 200
        answer = await t.call("chat.postMessage", 1, channel="C000001", text="hi")
        assert (answer.status, answer.body, answer.headers["Retry-After"]) == (
            429,
            {"ok": False, "error": "ratelimited"},
            "3",
        )
        minted = await t.call(MINT, ADMIN_TOKEN, workspace="pond", start=0, end=1)
        assert minted.status == 429, "the mint endpoint honours faults too, so token pipeline retries can be tested"

    run_target(scenario)


def test_added_latency_delays_answers_by_at_least_the_configured_amount() -> None:
    async def scenario(t: Target) -> None:
        await t.admin("PUT", "/admin/faults", {"route": "auth.test", "added_latency_ms": 150})
        started = time.perf_counter()
        answer = await t.call("auth.test", 1)
        assert time.perf_counter() - started >= 0.15
        assert answer.body["ok"]
        metrics = await t.metrics()
        assert 'koi_pond_target_faults_injected_total{kind="latency",method="auth.test"} 1.0' in metrics

    run_target(scenario)


def test_faults_are_listed_and_cleared_by_route_or_all() -> None:
    async def scenario(t: Target) -> None:
        await t.admin("PUT", "/admin/faults", {"route": "*", "added_latency_ms": 5})
        await t.admin("PUT", "/admin/faults", {"route": "reactions.add", "error_rate": 0.1, "status": 500})
        listed = await t.admin("GET", "/admin/faults")
        assert [(f["route"], f["status"]) for f in listed.body["faults"]] == [("*", 503), ("reactions.add", 500)]
        assert (await t.admin("DELETE", "/admin/faults?route=reactions.add")).body == {"ok": True, "cleared": 1}
        assert (await t.admin("DELETE", "/admin/faults")).body == {"ok": True, "cleared": 1}
        assert (await t.admin("GET", "/admin/faults")).body == {"ok": True, "faults": []}
        unknown = await t.admin("DELETE", "/admin/faults?route=nope")
        assert (unknown.status, unknown.body["error"]) == (400, "invalid_fault")

    run_target(scenario)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"route": "chat.postMesage", "error_rate": 0.5}, "unknown route 'chat.postMesage'"),
        ({"route": "*", "error_rate": 2}, "error_rate: Input should be less than or equal to 1"),
        ({"route": "*", "status": 404}, "status: Input should be 429, 500 or 503"),
        ({"route": "*", "added_latency_ms": -5}, "added_latency_ms"),
        ([1, 2], "JSON object"),
    ],
)
def test_invalid_faults_are_400_with_a_clear_message(body: object, detail: str) -> None:
    async def scenario(t: Target) -> None:
        answer = await t.admin("PUT", "/admin/faults", body)
        assert (answer.status, answer.body["error"]) == (400, "invalid_fault")
        assert detail in answer.body["detail"]
        assert (await t.admin("GET", "/admin/faults")).body["faults"] == []

    run_target(scenario)


@pytest.mark.parametrize(
    ("http", "path"), [("GET", "/admin/faults"), ("PUT", "/admin/faults"), ("DELETE", "/admin/faults")]
)
def test_fault_endpoints_need_the_admin_token(http: str, path: str) -> None:
    async def scenario(t: Target) -> None:
        for token in (None, "nope", t.token(0)):
            answer = await t.admin(http, path, {"route": "*", "error_rate": 1}, token=token)
            assert (answer.status, answer.body) == (401, {"ok": False, "error": "not_authed"})
        assert t.ctx.faults.active() == []

    run_target(scenario)


def test_reset_websockets_closes_every_open_socket_once() -> None:
    async def scenario(t: Target) -> None:
        sockets = [await t.connect(i) for i in range(3)]
        answer = await t.admin("PUT", "/admin/faults", {"route": "*", "reset_websockets": True})
        assert (answer.body["websockets_reset"], answer.body["active"]) == (3, False)
        for socket_ in sockets:
            message = await socket_.receive(timeout=5)
            assert message.type is aiohttp.WSMsgType.CLOSE
            assert socket_.close_code == 1012
        again = await t.connect(4)
        await t.post(1, ws.ORG_WIDE_CHANNEL_ID, "still here")
        assert (await again.receive_json(timeout=5))["text"] == "still here", "new sockets are not reset"
        metrics = await t.metrics()
        assert 'koi_pond_target_faults_injected_total{kind="websocket_reset",method="websocket"} 3.0' in metrics

    run_target(scenario)


def test_websocket_upgrades_honour_faults() -> None:
    async def scenario(t: Target) -> None:
        await t.admin("PUT", "/admin/faults", {"route": "websocket", "error_rate": 1, "status": 503})
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await t.client.ws_connect("/ws", headers={"Authorization": f"Bearer {t.token(1)}"})
        assert refused.value.status == 503

    run_target(scenario)


def test_metrics_count_calls_by_method_and_status() -> None:
    async def scenario(t: Target) -> None:
        await t.call("auth.test", 1)
        await t.call("auth.test", "bad-token")
        await t.post(1, ws.channel_id(3), "hello")
        await t.call("no.such.method", 1)
        member = await t.connect(1)
        await t.post(2, ws.ORG_WIDE_CHANNEL_ID, "hi all")
        await member.receive_json(timeout=5)
        metrics = await t.metrics()
        for line in (
            'koi_pond_target_requests_total{method="auth.test",status="200"} 1.0',
            'koi_pond_target_requests_total{method="auth.test",status="invalid_auth"} 1.0',
            'koi_pond_target_requests_total{method="chat.postMessage",status="200"} 2.0',
            'koi_pond_target_requests_total{method="other",status="unknown_method"} 1.0',
            'koi_pond_target_requests_total{method="websocket",status="101"} 1.0',
            'koi_pond_target_request_duration_seconds_count{method="auth.test"} 2.0',
            "koi_pond_target_websocket_connections 1.0",
            'koi_pond_target_websocket_events_sent_total{type="hello"} 1.0',
            'koi_pond_target_websocket_events_sent_total{type="message"} 1.0',
            "koi_pond_target_websocket_events_dropped_total 0.0",
        ):
            assert line in metrics, line
        assert "koi_pond_target_faults_injected_total" in metrics

    run_target(scenario)


def test_healthz() -> None:
    async def scenario(t: Target) -> None:
        async with t.client.get("/healthz") as response:
            assert (response.status, await response.json()) == (200, {"status": "ok"})

    run_target(scenario)
