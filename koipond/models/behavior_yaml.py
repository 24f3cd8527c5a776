"""Behavior documents written as YAML for people to read and edit: a header, a comment above each action."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from koipond.models.behavior import BehaviorDocument
from koipond.models.behavior_derive import comment_text


def render_behavior_yaml(
    document: BehaviorDocument, header: Sequence[str] = (), action_comments: Mapping[str, str] | None = None
) -> str:
    """``document`` as YAML that loads back to the same document, with comments.

    Fields at their defaults inside actions and formations are left out (an action's ``name_for_metrics``
    when it is the action's name); ``schema_version``, ``websocket`` and ``channels`` are written in full.

    Args:
        document: a validated behavior.
        header: comment lines for the top of the file (without ``#``).
        action_comments: action name -> a comment line written above the action.

    Returns:
        The YAML text.
    """
    comments = action_comments or {}
    data = document.model_dump(mode="json", exclude_none=True)
    parts = [*(f"# {comment_text(line)}".rstrip() for line in header)]
    parts.append(_dump({"schema_version": data["schema_version"], "description": data["description"]}))
    parts.append("actions:")
    for name, action in document.actions.items():
        if comments.get(name):
            parts.append(f"  # {comment_text(comments[name])}")
        fields = action.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        fields["rate_per_hour"] = action.rate_per_hour  # required, so written even when 0
        if fields.get("name_for_metrics") == name:
            del fields["name_for_metrics"]
        body = fields.pop("body", None)
        fields = _tidy(fields) | ({} if body is None else {"body": body})
        parts.append(_indented(_dump({name: _ordered(fields)})))
    parts.append(_dump(_tidy({"websocket": data["websocket"], "channels": data["channels"]})))
    if document.formations:
        formations = {
            name: formation.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
            for name, formation in document.formations.items()
        }
        parts.append(_dump(_tidy({"formations": formations})))
    return "\n".join(part.rstrip("\n") for part in parts) + "\n"


_ACTION_ORDER = ("method", "path", "params", "body", "rate_per_hour", "weight", "name_for_metrics")


def _ordered(fields: dict[str, Any]) -> dict[str, Any]:
    first = {key: fields[key] for key in _ACTION_ORDER if key in fields}
    return first | {key: value for key, value in fields.items() if key not in first}


def _tidy(value: Any) -> Any:
    """Whole floats written as integers (``4`` rather than ``4.0``); the schema reads them back as floats."""
    if isinstance(value, dict):
        return {key: _tidy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_tidy(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _dump(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" if line else line for line in text.splitlines())
