"""The target's in-memory workspaces: channels, their last messages, reactions and membership.

Pure state (no I/O): Web API methods call it, then hand the events it returns to the websocket hub.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from koipond import workspace as ws
from slacklike_target.messages import MAX_REACTION_NAMES, Message, history_page, is_channel_id
from slacklike_target.timestamps import TsSequence
from slacklike_target.wire import ErrorCode, TargetApiError

DEFAULT_MAX_MESSAGES_PER_CHANNEL = 1_000
HISTORY_DEFAULT_LIMIT = 100
HISTORY_MAX_LIMIT = 1_000


class ChannelState:
    """One channel: its newest messages by ts (oldest first) and its explicit members."""

    __slots__ = ("id", "members", "messages", "ts")

    def __init__(self, channel_id: str) -> None:
        self.id = channel_id
        self.members: set[int] = set()
        self.messages: dict[str, Message] = {}
        self.ts = TsSequence()


@dataclass(slots=True)
class WorkspaceState:
    channels: dict[str, ChannelState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    messages: list[dict[str, Any]]
    has_more: bool
    reaction_entries_visited: int


class TargetState:
    """Every workspace the target has seen; channels exist implicitly and are created on first use."""

    def __init__(
        self,
        max_messages_per_channel: int = DEFAULT_MAX_MESSAGES_PER_CHANNEL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_messages_per_channel < 1:
            raise ValueError("max_messages_per_channel must be at least 1")
        self.max_messages_per_channel = max_messages_per_channel
        self._clock = clock
        self._workspaces: dict[str, WorkspaceState] = {}
        # Total work done summarizing reactions for history reads: what the announcement incident costs.
        self.reaction_entries_visited = 0

    def channel(self, workspace: str, channel_id: str) -> ChannelState:
        """The channel, created on first use.

        Raises:
            TargetApiError: ``channel_not_found`` when ``channel_id`` is not a channel of the workspace.
        """
        if not is_channel_id(channel_id):
            raise TargetApiError(ErrorCode.CHANNEL_NOT_FOUND)
        channels = self._workspaces.setdefault(workspace, WorkspaceState()).channels
        found = channels.get(channel_id)
        if found is None:
            found = channels[channel_id] = ChannelState(channel_id)
        return found

    def join(self, workspace: str, user: int, channel_id: str) -> bool:
        """Make ``user`` a member; True when it already was (everyone is in the org-wide channel)."""
        channel = self.channel(workspace, channel_id)
        if channel_id == ws.ORG_WIDE_CHANNEL_ID or user in channel.members:
            return True
        channel.members.add(user)
        return False

    def members(self, workspace: str, channel_id: str) -> set[int] | None:
        """The channel's members; None for the org-wide channel, whose members are everyone."""
        if channel_id == ws.ORG_WIDE_CHANNEL_ID:
            return None
        return self.channel(workspace, channel_id).members

    def post_message(
        self, workspace: str, user: int, channel_id: str, text: str, client_msg_id: str | None = None
    ) -> Message:
        """Append a message (its poster joins the channel); the oldest message beyond the cap is dropped."""
        channel = self.channel(workspace, channel_id)
        if channel_id != ws.ORG_WIDE_CHANNEL_ID:
            channel.members.add(user)
        message = Message(channel.ts.next(self._clock()), user, text, client_msg_id)
        channel.messages[message.ts] = message
        if len(channel.messages) > self.max_messages_per_channel:
            del channel.messages[next(iter(channel.messages))]
        return message

    def add_reaction(self, workspace: str, user: int, channel_id: str, ts: str, name: str) -> tuple[Message, str]:
        """Record ``user``'s ``name`` reaction on message ``ts``; returns the message and the event's ts.

        Raises:
            TargetApiError: ``channel_not_found``, ``message_not_found`` (unknown or evicted ts),
                ``already_reacted`` (this user, this emoji) or ``too_many_emoji``.
        """
        channel = self.channel(workspace, channel_id)
        message = channel.messages.get(ts)
        if message is None:
            raise TargetApiError(ErrorCode.MESSAGE_NOT_FOUND)
        users = message.reactions.get(name)
        if users is None:
            if len(message.reactions) >= MAX_REACTION_NAMES:
                raise TargetApiError(ErrorCode.TOO_MANY_EMOJI)
            users = message.reactions[name] = {}
        elif user in users:
            raise TargetApiError(ErrorCode.ALREADY_REACTED)
        users[user] = None
        return message, channel.ts.next(self._clock())

    def history(self, workspace: str, channel_id: str, limit: int = HISTORY_DEFAULT_LIMIT) -> HistoryPage:
        """The newest ``limit`` messages, newest first, each with freshly built reaction summaries."""
        channel = self.channel(workspace, channel_id)
        limit = max(1, min(HISTORY_MAX_LIMIT, limit))
        window = islice(reversed(channel.messages.values()), limit)
        page, visited = history_page(window, workspace)
        self.reaction_entries_visited += visited
        return HistoryPage(page, len(channel.messages) > limit, visited)
