"""Messages and their reactions, and how they look on the wire (history entries, websocket events)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from koipond import workspace as ws

# Slack refuses longer messages with ``msg_too_long``.
MAX_TEXT_CHARS = 40_000
# Distinct emoji on one message (Slack: ``too_many_emoji``); keeps a message's memory bounded.
MAX_REACTION_NAMES = 50
_REACTION_NAME = re.compile(r"^[a-z0-9_+'-]+(::skin-tone-[2-6])?$")
MAX_REACTION_NAME_CHARS = 100


def is_channel_id(channel: str) -> bool:
    """Whether ``channel`` names one of the workspace's channels (``C`` + six digits, or the org-wide one)."""
    if channel == ws.ORG_WIDE_CHANNEL_ID:
        return True
    return (
        len(channel) == 7 and channel[0] == "C" and channel[1:].isdecimal() and int(channel[1:]) < ws.WORKSPACE_CHANNELS
    )


def reaction_name(raw: str) -> str | None:
    """The canonical emoji name (``:tada:`` → ``tada``), or None when it cannot be one."""
    name = raw.strip(":")
    if not name or len(name) > MAX_REACTION_NAME_CHARS or not _REACTION_NAME.match(name):
        return None
    return name


@dataclass(slots=True)
class Message:
    """One message; reactions map an emoji name to its users in reaction order (a dict as ordered set)."""

    ts: str
    user: int
    text: str
    client_msg_id: str | None = None
    reactions: dict[str, dict[int, None]] = field(default_factory=dict)


def summarize_reactions(reactions: dict[str, dict[int, None]]) -> tuple[list[dict[str, Any]], int]:
    """Slack's reaction summaries (name, count, users), and how many user entries were visited.

    Deliberately recomputed on every read: this is the work that makes an org-wide announcement
    with thousands of reactions expensive for everyone who reads it, as in the real incident.
    """
    summaries: list[dict[str, Any]] = []
    visited = 0
    for name, users in reactions.items():
        ids = [ws.user_id(user) for user in users]
        visited += len(ids)
        summaries.append({"name": name, "count": len(ids), "users": ids})
    return summaries, visited


def message_payload(message: Message, team: str) -> dict[str, Any]:
    """A message as ``chat.postMessage`` answers it (without reactions)."""
    payload: dict[str, Any] = {
        "type": "message",
        "user": ws.user_id(message.user),
        "text": message.text,
        "ts": message.ts,
        "team": team,
    }
    if message.client_msg_id is not None:
        payload["client_msg_id"] = message.client_msg_id
    return payload


def history_page(messages: Iterable[Message], team: str) -> tuple[list[dict[str, Any]], int]:
    """History entries (each with its reaction summaries) and the reaction entries visited building them."""
    page: list[dict[str, Any]] = []
    visited = 0
    for message in messages:
        entry = message_payload(message, team)
        entry["reactions"], seen = summarize_reactions(message.reactions)
        visited += seen
        page.append(entry)
    return page, visited


def message_event(channel: str, message: Message, client_sent_at: float | None) -> dict[str, Any]:
    """The websocket event for a new message; ``client_sent_at`` is echoed for end-to-end lag."""
    return {
        "type": "message",
        "channel": channel,
        "user": ws.user_id(message.user),
        "text": message.text,
        "ts": message.ts,
        "client_msg_id": message.client_msg_id,
        "client_sent_at": client_sent_at,
    }


def reaction_event(channel: str, message: Message, user: int, name: str, event_ts: str) -> dict[str, Any]:
    """The websocket event for a reaction added to ``message``."""
    return {
        "type": "reaction_added",
        "user": ws.user_id(user),
        "reaction": name,
        "item": {"type": "message", "channel": channel, "ts": message.ts},
        "item_user": ws.user_id(message.user),
        "event_ts": event_ts,
    }
