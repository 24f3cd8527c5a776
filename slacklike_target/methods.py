"""The Web API methods koi call, as functions of the shared context and one authenticated call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from koipond import workspace as ws
from slacklike_target.context import TargetContext
from slacklike_target.messages import (
    MAX_TEXT_CHARS,
    message_event,
    message_payload,
    reaction_event,
    reaction_name,
)
from slacklike_target.state import HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT
from slacklike_target.tokens import Identity
from slacklike_target.wire import (
    Args,
    ErrorCode,
    TargetApiError,
    clamped_int,
    optional_float,
    optional_str,
    required_str,
)


@dataclass(frozen=True, slots=True)
class Call:
    """One authenticated Web API call: who, with which arguments, at which base URL."""

    identity: Identity
    args: Args
    base_url: str


Method = Callable[[TargetContext, Call], dict[str, Any]]


def auth_test(ctx: TargetContext, call: Call) -> dict[str, Any]:
    who = call.identity
    return {
        "url": call.base_url,
        "team": who.workspace,
        "team_id": who.workspace,
        "user": ws.user_name(who.index),
        "user_id": who.user_id,
    }


def chat_post_message(ctx: TargetContext, call: Call) -> dict[str, Any]:
    channel = required_str(call.args, "channel")
    text = required_str(call.args, "text", max_length=10 * MAX_TEXT_CHARS)
    if len(text) > MAX_TEXT_CHARS:
        raise TargetApiError(ErrorCode.MSG_TOO_LONG)
    client_msg_id = optional_str(call.args, "client_msg_id", max_length=128)
    client_sent_at = optional_float(call.args, "client_sent_at")
    who = call.identity
    message = ctx.state.post_message(who.workspace, who.index, channel, text, client_msg_id)
    members = ctx.state.members(who.workspace, channel)
    ctx.hub.fan_out(who.workspace, members, message_event(channel, message, client_sent_at))
    return {"channel": channel, "ts": message.ts, "message": message_payload(message, who.workspace)}


def conversations_history(ctx: TargetContext, call: Call) -> dict[str, Any]:
    channel = required_str(call.args, "channel")
    limit = clamped_int(call.args, "limit", HISTORY_DEFAULT_LIMIT, 1, HISTORY_MAX_LIMIT)
    page = ctx.state.history(call.identity.workspace, channel, limit)
    ctx.metrics.history_reaction_entries.inc(page.reaction_entries_visited)
    return {"messages": page.messages, "has_more": page.has_more}


def conversations_join(ctx: TargetContext, call: Call) -> dict[str, Any]:
    channel = required_str(call.args, "channel")
    already = ctx.state.join(call.identity.workspace, call.identity.index, channel)
    answer: dict[str, Any] = {
        "channel": {"id": channel, "name": ws.channel_name(channel), "is_channel": True, "is_member": True},
        "already_in_channel": already,
    }
    if already:
        answer["warning"] = "already_in_channel"
    return answer


def reactions_add(ctx: TargetContext, call: Call) -> dict[str, Any]:
    channel = required_str(call.args, "channel")
    timestamp = required_str(call.args, "timestamp", max_length=64)
    name = reaction_name(required_str(call.args, "name", max_length=200))
    if name is None:
        raise TargetApiError(ErrorCode.INVALID_NAME)
    who = call.identity
    message, event_ts = ctx.state.add_reaction(who.workspace, who.index, channel, timestamp, name)
    members = ctx.state.members(who.workspace, channel)
    ctx.hub.fan_out(who.workspace, members, reaction_event(channel, message, who.index, name, event_ts))
    return {}


def users_info(ctx: TargetContext, call: Call) -> dict[str, Any]:
    user = required_str(call.args, "user", max_length=64)
    try:
        index = ws.user_index(user)
    except ValueError:
        raise TargetApiError(ErrorCode.USER_NOT_FOUND) from None
    name = ws.user_name(index)
    team = call.identity.workspace
    return {
        "user": {
            "id": user,
            "team_id": team,
            "name": name,
            "deleted": False,
            "real_name": f"Koi {index}",
            "tz": "Etc/UTC",
            "is_admin": index == 0,
            "is_owner": index == 0,
            "is_bot": False,
            "profile": {
                "real_name": f"Koi {index}",
                "display_name": name,
                "email": f"{name}@{team}.koipond.invalid",
                "team": team,
            },
        }
    }


METHODS: dict[str, Method] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "conversations.history": conversations_history,
    "conversations.join": conversations_join,
    "reactions.add": reactions_add,
    "users.info": users_info,
}
