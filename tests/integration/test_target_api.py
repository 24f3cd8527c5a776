"""The target's Web API over real HTTP: each method's answer and error codes, Slack style."""

from __future__ import annotations

from typing import Any

import pytest

from koipond import workspace as ws
from slacklike_target.context import TargetConfig
from slacklike_target.tokens import TokenAuthority
from tests.integration.target_harness import SECRET, Target, run_target

C1, C2 = ws.channel_id(1), ws.channel_id(2)
GENERAL = ws.ORG_WIDE_CHANNEL_ID


def test_auth_test_names_the_tokens_user_and_team() -> None:
    async def scenario(t: Target) -> None:
        answer = await t.call("auth.test", 7)
        assert answer.status == 200
        assert answer.body == {
            "ok": True,
            "url": f"http://{t.client.host}:{t.client.port}/",
            "team": "pond",
            "team_id": "pond",
            "user": "koi-7",
            "user_id": "U00000007",
        }

    run_target(scenario)


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "garbage",
        "xoxp-pond-1-00000000000000000000000000000000",
        TokenAuthority("another-secret").mint("pond", 1),
    ],
)
def test_missing_or_invalid_tokens_get_invalid_auth_with_http_200(token: str | None) -> None:
    async def scenario(t: Target) -> None:
        for method in ("auth.test", "chat.postMessage", "conversations.history", "users.info"):
            answer = await t.call(method, token, channel=C1, text="hi")
            assert (answer.status, answer.body) == (200, {"ok": False, "error": "invalid_auth"})

    run_target(scenario)


def test_post_message_answers_with_a_unique_increasing_ts_and_the_message() -> None:
    async def scenario(t: Target) -> None:
        answer = await t.call("chat.postMessage", 3, channel=C1, text="hello", client_msg_id="m-1")
        assert answer.body["ok"]
        assert answer.body["channel"] == C1
        ts = answer.body["ts"]
        seconds, micros = ts.split(".")
        assert seconds.isdigit()
        assert len(micros) == 6
        assert micros.isdigit()
        assert answer.body["message"] == {
            "type": "message",
            "user": "U00000003",
            "text": "hello",
            "ts": ts,
            "team": "pond",
            "client_msg_id": "m-1",
        }
        stamps = [await t.post(3, C1, f"m{i}") for i in range(20)]
        assert [float(s) for s in stamps] == sorted({float(s) for s in stamps})
        assert float(stamps[0]) > float(ts)

    run_target(scenario)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"channel": "C9999999", "text": "hi"}, "channel_not_found"),
        ({"channel": "D000001", "text": "hi"}, "channel_not_found"),
        ({"channel": C1, "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": C1}, "invalid_arguments"),
        ({"text": "hi"}, "invalid_arguments"),
        ({"channel": C1, "text": ""}, "invalid_arguments"),
        ({"channel": 5, "text": "hi"}, "invalid_arguments"),
        ({"channel": C1, "text": "hi", "client_sent_at": "yesterday"}, "invalid_arguments"),
        ({"channel": C1, "text": "hi", "client_sent_at": True}, "invalid_arguments"),
    ],
)
def test_post_message_errors(args: dict[str, Any], error: str) -> None:
    async def scenario(t: Target) -> None:
        answer = await t.call("chat.postMessage", 1, **args)
        assert (answer.status, answer.error) == (200, error)

    run_target(scenario)


def test_malformed_bodies_are_invalid_arguments_never_a_500() -> None:
    async def scenario(t: Target) -> None:
        headers = {"Authorization": f"Bearer {t.token(1)}", "Content-Type": "application/json"}
        for raw in (b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"null"):
            async with t.client.post("/api/chat.postMessage", data=raw, headers=headers) as response:
                body = await response.json()
                assert (response.status, body["ok"], body["error"]) == (200, False, "invalid_arguments")
                assert body["detail"]
        async with t.client.post("/api/chat.postMessage", data=b"x" * (2 * 1024 * 1024), headers=headers) as big:
            assert (big.status, (await big.json())["error"]) == (413, "request_too_large")

    run_target(scenario)


def test_form_encoded_and_query_arguments_work_like_json() -> None:
    async def scenario(t: Target) -> None:
        headers = {"Authorization": f"Bearer {t.token(1)}"}
        async with t.client.post("/api/chat.postMessage", data={"channel": C1, "text": "form"}, headers=headers) as r:
            assert (await r.json())["message"]["text"] == "form"
        async with t.client.post("/api/chat.postMessage?channel=C000001&text=query", headers=headers) as r:
            assert (await r.json())["message"]["text"] == "query"

    run_target(scenario)


def test_history_is_newest_first_with_reactions_and_has_more() -> None:
    async def scenario(t: Target) -> None:
        first = await t.post(1, C1, "first")
        second = await t.post(2, C1, "second", client_msg_id="c-2")
        assert (await t.call("reactions.add", 3, channel=C1, timestamp=first, name="tada")).body == {"ok": True}
        answer = await t.call("conversations.history", 1, http="GET", channel=C1, limit="1")
        assert answer.body == {
            "ok": True,
            "messages": [
                {
                    "type": "message",
                    "user": "U00000002",
                    "text": "second",
                    "ts": second,
                    "team": "pond",
                    "client_msg_id": "c-2",
                    "reactions": [],
                }
            ],
            "has_more": True,
        }
        full = await t.call("conversations.history", 1, http="GET", channel=C1)
        assert [m["ts"] for m in full.body["messages"]] == [second, first]
        assert full.body["messages"][1]["reactions"] == [{"name": "tada", "count": 1, "users": ["U00000003"]}]
        assert full.body["has_more"] is False
        empty = await t.call("conversations.history", 1, http="GET", channel=C2)
        assert empty.body == {"ok": True, "messages": [], "has_more": False}

    run_target(scenario)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"channel": "nope"}, "channel_not_found"),
        ({}, "invalid_arguments"),
        ({"channel": C1, "limit": "ten"}, "invalid_arguments"),
    ],
)
def test_history_errors(args: dict[str, str], error: str) -> None:
    async def scenario(t: Target) -> None:
        assert (await t.call("conversations.history", 1, http="GET", **args)).error == error

    run_target(scenario)


def test_history_costs_more_after_an_announcement_collects_reactions() -> None:
    async def scenario(t: Target) -> None:
        announcement = await t.post(0, GENERAL, "all hands at 4")
        await t.call("conversations.history", 5, http="GET", channel=GENERAL, limit="20")
        quiet_cost = t.ctx.state.reaction_entries_visited
        for user in range(1, 201):
            answer = await t.call("reactions.add", user, channel=GENERAL, timestamp=announcement, name="tada")
            assert answer.body == {"ok": True}
        before = t.ctx.state.reaction_entries_visited
        read = await t.call("conversations.history", 5, http="GET", channel=GENERAL, limit="20")
        assert read.body["messages"][0]["reactions"][0]["count"] == 200
        assert quiet_cost == 0
        assert t.ctx.state.reaction_entries_visited - before == 200
        assert "koi_pond_target_history_reaction_entries_visited_total 200.0" in await t.metrics()

    run_target(scenario)


def test_reactions_add_errors() -> None:
    async def scenario(t: Target) -> None:
        ts = await t.post(1, C1)
        add = {"channel": C1, "timestamp": ts, "name": ":thumbsup:"}
        assert (await t.call("reactions.add", 2, **add)).body == {"ok": True}
        assert (await t.call("reactions.add", 2, **add)).error == "already_reacted"
        assert (await t.call("reactions.add", 3, **add)).body == {"ok": True}
        assert (await t.call("reactions.add", 2, **{**add, "timestamp": "1.000001"})).error == "message_not_found"
        assert (await t.call("reactions.add", 2, **{**add, "channel": C2})).error == "message_not_found"
        assert (await t.call("reactions.add", 2, **{**add, "channel": "X"})).error == "channel_not_found"
        assert (await t.call("reactions.add", 2, **{**add, "name": "No Way"})).error == "invalid_name"
        assert (await t.call("reactions.add", 2, channel=C1, name="tada")).error == "invalid_arguments"

    run_target(scenario)


def test_users_info_describes_any_user_and_the_admin_is_user_zero() -> None:
    async def scenario(t: Target) -> None:
        admin = (await t.call("users.info", 5, http="GET", user="U00000000")).body["user"]
        assert (admin["id"], admin["name"], admin["team_id"], admin["is_admin"]) == ("U00000000", "koi-0", "pond", True)
        assert admin["profile"]["display_name"] == "koi-0"
        koi = (await t.call("users.info", 5, http="GET", user="U00001234")).body["user"]
        assert (koi["name"], koi["is_admin"]) == ("koi-1234", False)
        for malformed in ("U1", "W00000001", "U0000000x", "U000000001"):
            assert (await t.call("users.info", 5, http="GET", user=malformed)).error == "user_not_found"
        assert (await t.call("users.info", 5, http="GET")).error == "invalid_arguments"

    run_target(scenario)


def test_conversations_join_is_idempotent_and_everyone_is_already_in_general() -> None:
    async def scenario(t: Target) -> None:
        first = await t.call("conversations.join", 4, channel=C2)
        assert first.body == {
            "ok": True,
            "channel": {"id": C2, "name": "channel-2", "is_channel": True, "is_member": True},
            "already_in_channel": False,
        }
        again = await t.call("conversations.join", 4, channel=C2)
        assert (again.body["ok"], again.body["already_in_channel"], again.body["warning"]) == (
            True,
            True,
            "already_in_channel",
        )
        general = await t.call("conversations.join", 4, channel=GENERAL)
        assert general.body["channel"]["name"] == "general"
        assert general.body["already_in_channel"] is True
        assert (await t.call("conversations.join", 4, channel="C12")).error == "channel_not_found"

    run_target(scenario)


def test_unknown_methods_are_404_unknown_method() -> None:
    async def scenario(t: Target) -> None:
        answer = await t.call("chat.deleteEverything", 1)
        assert (answer.status, answer.body) == (404, {"ok": False, "error": "unknown_method"})

    run_target(scenario)


def test_tokens_minted_with_the_same_secret_by_another_process_are_accepted() -> None:
    async def scenario(t: Target) -> None:
        token = TokenAuthority(SECRET).mint("other-team", 99)
        answer = await t.call("auth.test", token)
        assert (answer.body["team_id"], answer.body["user_id"]) == ("other-team", "U00000099")

    run_target(scenario)


def test_config_refuses_empty_secrets() -> None:
    with pytest.raises(ValueError, match="secret"):
        TargetConfig(secret="", admin_token="a")
    with pytest.raises(ValueError, match="admin token"):
        TargetConfig(secret="s", admin_token="")
