"""The target's in-memory workspace: messages, reactions, membership, and what history costs."""

from __future__ import annotations

from itertools import count

import pytest
from hypothesis import given
from hypothesis import strategies as st

from koipond import workspace as ws
from slacklike_target.messages import (
    MAX_REACTION_NAMES,
    Message,
    is_channel_id,
    reaction_name,
    summarize_reactions,
)
from slacklike_target.state import TargetState
from slacklike_target.wire import ErrorCode, TargetApiError

C1 = ws.channel_id(1)
GENERAL = ws.ORG_WIDE_CHANNEL_ID


def fresh_state(max_messages: int = 1000) -> TargetState:
    ticks = count(1_718_000_000)
    return TargetState(max_messages, clock=lambda: float(next(ticks)))


def api_error(code: ErrorCode) -> pytest.RaisesExc[TargetApiError]:
    return pytest.raises(TargetApiError, match=code.value)


def test_history_is_newest_first_with_has_more() -> None:
    state = fresh_state()
    posted = [state.post_message("pond", 1, C1, f"m{i}").ts for i in range(5)]
    page = state.history("pond", C1, limit=3)
    assert [m["ts"] for m in page.messages] == posted[::-1][:3]
    assert page.has_more
    assert not state.history("pond", C1, limit=5).has_more


def test_each_history_entry_carries_reaction_summaries_with_users() -> None:
    state = fresh_state()
    ts = state.post_message("pond", 1, C1, "hello").ts
    for user in (2, 3):
        state.add_reaction("pond", user, C1, ts, "tada")
    state.add_reaction("pond", 2, C1, ts, "eyes")
    [entry] = state.history("pond", C1).messages
    assert entry["reactions"] == [
        {"name": "tada", "count": 2, "users": ["U00000002", "U00000003"]},
        {"name": "eyes", "count": 1, "users": ["U00000002"]},
    ]
    assert state.history("pond", ws.channel_id(2)).messages == []


@given(st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=8))
def test_history_work_grows_with_the_reactions_on_the_messages_read(reactions_per_message: list[int]) -> None:
    state = fresh_state()
    for reactions in reactions_per_message:
        ts = state.post_message("pond", 0, GENERAL, "announcement").ts
        for user in range(reactions):
            state.add_reaction("pond", user, GENERAL, ts, "tada")
    page = state.history("pond", GENERAL, limit=len(reactions_per_message))
    assert page.reaction_entries_visited == sum(reactions_per_message)
    state.history("pond", GENERAL, limit=len(reactions_per_message))
    assert state.reaction_entries_visited == 2 * sum(reactions_per_message), "every read pays again"


def test_reading_past_a_heavily_reacted_message_costs_nothing_for_it() -> None:
    state = fresh_state()
    ts = state.post_message("pond", 0, GENERAL, "announcement").ts
    for user in range(1000):
        state.add_reaction("pond", user, GENERAL, ts, "tada")
    state.post_message("pond", 1, GENERAL, "later")
    assert state.history("pond", GENERAL, limit=1).reaction_entries_visited == 0
    assert state.history("pond", GENERAL, limit=2).reaction_entries_visited == 1000


def test_only_the_newest_messages_are_kept_and_evicted_ones_are_not_found() -> None:
    state = fresh_state(max_messages=3)
    stamps = [state.post_message("pond", 1, C1, str(i)).ts for i in range(5)]
    assert [m["ts"] for m in state.history("pond", C1).messages] == stamps[:1:-1]
    with api_error(ErrorCode.MESSAGE_NOT_FOUND):
        state.add_reaction("pond", 2, C1, stamps[0], "tada")


def test_reaction_errors() -> None:
    state = fresh_state()
    ts = state.post_message("pond", 1, C1, "hi").ts
    state.add_reaction("pond", 2, C1, ts, "tada")
    with api_error(ErrorCode.ALREADY_REACTED):
        state.add_reaction("pond", 2, C1, ts, "tada")
    with api_error(ErrorCode.MESSAGE_NOT_FOUND):
        state.add_reaction("pond", 2, C1, "1.000001", "tada")
    with api_error(ErrorCode.MESSAGE_NOT_FOUND):
        state.add_reaction("pond", 2, ws.channel_id(2), ts, "tada")
    for i in range(MAX_REACTION_NAMES - 1):
        state.add_reaction("pond", 2, C1, ts, f"e{i}")
    with api_error(ErrorCode.TOO_MANY_EMOJI):
        state.add_reaction("pond", 2, C1, ts, "one_too_many")


def test_workspaces_are_separate() -> None:
    state = fresh_state()
    ts = state.post_message("pond", 1, C1, "hi").ts
    assert state.history("other", C1).messages == []
    with api_error(ErrorCode.MESSAGE_NOT_FOUND):
        state.add_reaction("other", 1, C1, ts, "tada")


def test_joining_is_idempotent_posting_joins_and_everyone_is_in_general() -> None:
    state = fresh_state()
    assert state.join("pond", 1, C1) is False
    assert state.join("pond", 1, C1) is True
    state.post_message("pond", 2, C1, "hi")
    assert state.members("pond", C1) == {1, 2}
    assert state.join("pond", 1, GENERAL) is True
    assert state.members("pond", GENERAL) is None


@pytest.mark.parametrize(
    "channel", ["C1", "C0000001", "D000001", "c000001", f"C{ws.WORKSPACE_CHANNELS:06d}", "", "general"]
)
def test_channels_outside_the_workspace_are_not_found(channel: str) -> None:
    assert not is_channel_id(channel)
    with api_error(ErrorCode.CHANNEL_NOT_FOUND):
        fresh_state().post_message("pond", 1, channel, "hi")


def test_the_workspace_channels_exist() -> None:
    assert is_channel_id(GENERAL)
    assert all(is_channel_id(c) for c in ws.koi_channels(12345, 5))


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("tada", "tada"),
        (":tada:", "tada"),
        ("+1", "+1"),
        ("thumbsup::skin-tone-3", "thumbsup::skin-tone-3"),
        ("", None),
        ("::", None),
        ("Tada", None),
        ("ta da", None),
        ("x" * 101, None),
    ],
)
def test_reaction_names(raw: str, name: str | None) -> None:
    assert reaction_name(raw) == name


def test_summaries_count_every_user_entry_visited() -> None:
    message = Message("1.000001", 1, "hi", reactions={"a": {1: None, 2: None}, "b": {3: None}})
    summaries, visited = summarize_reactions(message.reactions)
    assert visited == 3
    assert [s["count"] for s in summaries] == [2, 1]
