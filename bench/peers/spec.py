"""A behavior as plain JSON that a peer tool's script carries: rates, methods, paths, parsed templates.

Templates are parsed here by the School's own parser (``koipond.models.templates``), so a peer only
joins parts: a template string becomes ``{"$t": [part, ...]}`` where a part is literal text or
``{"v": variable}``. Per-user facts (token, user id and name, the channels a koi of that index joins)
come from ``koipond.workspace``, as the School computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from koipond import workspace
from koipond.models.behavior import BehaviorDocument
from koipond.models.templates import TEMPLATE_VARIABLES, parse_template

TEMPLATE_KEY = "$t"
# The words of {random.text}, as school_container/prepared.py draws them.
WORDS = (
    "pond", "koi", "swim", "ripple", "lotus", "carp", "splash", "reed", "stone", "bridge", "lantern", "moss",
    "current", "shade",
)  # fmt: skip


class UnsupportedBehaviorError(ValueError):
    """The behavior uses something the peer scripts do not reproduce (formations)."""


def parsed(template: str) -> dict[str, list[Any]]:
    """One template string as parts: literal text, or ``{"v": name}`` for a variable."""
    return {TEMPLATE_KEY: [{"v": p.text} if p.is_variable else p.text for p in parse_template(template)]}


def parsed_json(value: Any) -> Any:
    """A JSON body with every string parsed, keys literal, as ``render_json`` renders it."""
    if isinstance(value, str):
        return parsed(value)
    if isinstance(value, list):
        return [parsed_json(item) for item in value]
    if isinstance(value, dict):
        return {key: parsed_json(item) for key, item in value.items()}
    return value


def behavior_spec(behavior: BehaviorDocument) -> dict[str, Any]:
    """What every user of a peer does, from ``behavior``.

    Raises:
        UnsupportedBehaviorError: the behavior has formations (the peers reproduce steady state only).
    """
    if behavior.formations:
        raise UnsupportedBehaviorError("formations are not reproduced by the peer scripts")
    actions = []
    for name, action in behavior.actions.items():
        if action.effective_rate_per_hour <= 0:
            continue
        unknown = action.variables_used() - set(TEMPLATE_VARIABLES)
        if unknown:
            raise UnsupportedBehaviorError(f"action {name}: unknown variables {sorted(unknown)}")
        body = action.body
        actions.append(
            {
                "name": name,
                "label": action.name_for_metrics or name,
                "method": action.method,
                "rate_per_second": action.effective_rate_per_hour / 3600.0,
                "path": parsed(action.path),
                "params": {k: parsed(v) for k, v in action.params.items()} or None,
                "body": parsed_json(body) if body is not None else None,
                # The koi stamps client_sent_at into a body naming a channel (school_container/koi.py).
                "stamp_sent_at": isinstance(body, dict) and "channel" in body and "client_sent_at" not in body,
            }
        )
    ws = behavior.websocket
    return {
        "actions": actions,
        "websocket": {"enabled": ws.enabled, "path": ws.path, "ping_interval_seconds": ws.ping_interval_seconds},
        "join": {"method": "POST", "path": "/api/conversations.join", "label": "conversations.join"},
        "words": list(WORDS),
    }


def user_facts(index: int, token: str, workspace_id: str, channels_per_user: int) -> dict[str, Any]:
    """The facts of user ``index``: token, ids, and the channels a koi of that index joins."""
    own = workspace.koi_channels(index, channels_per_user) or [workspace.ORG_WIDE_CHANNEL_ID]
    return {
        "index": index,
        "token": token,
        "user": workspace.user_id(index),
        "name": workspace.user_name(index),
        "workspace": workspace_id,
        "channels": own,
        "channel_names": [workspace.channel_name(c) for c in own],
    }


def users(tokens: Sequence[str], workspace_id: str, behavior: BehaviorDocument) -> list[dict[str, Any]]:
    """Facts of users ``[0, len(tokens))``."""
    count = behavior.channels.count_per_koi
    return [user_facts(i, token, workspace_id, count) for i, token in enumerate(tokens)]
