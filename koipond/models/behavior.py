"""Behavior documents: what each koi does (actions, websocket, channels) and scripted formations.

The parts live in :mod:`koipond.models.behavior_actions`, :mod:`koipond.models.formations` and
:mod:`koipond.models.behavior_checks`; this module assembles them and is where the rest of koipond imports
them from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from koipond.models.behavior_actions import (
    IDENTIFIER_PATTERN,
    MAX_RATE_PER_HOUR,
    Action,
    ChannelSelection,
    Description,
    Identifier,
    TargetPath,
    WebsocketSettings,
)
from koipond.models.behavior_checks import FROZEN, CrossChecked, CrossFieldError, valid_part, valid_parts
from koipond.models.formations import (
    MAX_EVERY_SECONDS,
    Formation,
    FormationStart,
    FormationStep,
    KoiSelector,
    KoiShare,
    StepRef,
    raw_step_refs,
)

__all__ = [
    "BEHAVIOR_NAME_PATTERN",
    "IDENTIFIER_PATTERN",
    "MAX_ACTIONS",
    "MAX_DOCUMENT_BYTES",
    "MAX_EVERY_SECONDS",
    "MAX_RATE_PER_HOUR",
    "Action",
    "BehaviorDocument",
    "ChannelSelection",
    "CrossFieldError",
    "Formation",
    "FormationStart",
    "FormationStep",
    "KoiSelector",
    "KoiShare",
    "StoredBehavior",
    "TargetPath",
    "WebsocketSettings",
]

BEHAVIOR_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
"""Names of stored behaviors (and of files in ``behaviors/``): URL- and DynamoDB-key-safe."""
MAX_ACTIONS = 64  # bounds the cardinality of the per-action metric label
# DynamoDB refuses items over 400 KB; a stored version is this document plus ~300 bytes of name, version
# and author, so 256 KiB leaves room to spare whatever the document holds.
MAX_DOCUMENT_BYTES = 256 * 1024


class BehaviorDocument(CrossChecked):
    """A behavior as uploaded to the Keeper and stored in ``behaviors/``."""

    model_config = FROZEN

    schema_version: Literal[1] = 1
    description: Description
    actions: dict[Identifier, Action] = Field(min_length=1, max_length=MAX_ACTIONS)
    websocket: WebsocketSettings = Field(default_factory=WebsocketSettings)
    channels: ChannelSelection = Field(default_factory=ChannelSelection)
    formations: dict[Identifier, Formation] = Field(default_factory=dict, max_length=32)

    @field_validator("actions", mode="after")
    @classmethod
    def _default_metric_names(cls, actions: dict[str, Action]) -> dict[str, Action]:
        return {
            name: action
            if action.name_for_metrics is not None
            else action.model_copy(update={"name_for_metrics": name})
            for name, action in actions.items()
        }

    @model_validator(mode="after")
    def _within_size_limit(self) -> BehaviorDocument:
        # Measured as stored (compact JSON, defaults filled in), so the limit is what DynamoDB will see.
        size = len(self.model_dump_json().encode())
        if size > MAX_DOCUMENT_BYTES:
            raise ValueError(
                f"the behavior document is {size:,} bytes as stored JSON; the limit is "
                f"{MAX_DOCUMENT_BYTES:,} bytes ({MAX_DOCUMENT_BYTES // 1024} KiB)"
            )
        return self

    @model_validator(mode="after")
    def _check_references(self) -> BehaviorDocument:
        formations = {name: (formation.channel, formation._step_refs()) for name, formation in self.formations.items()}
        problems = _reference_problems(self.actions, self.actions, self.channels, formations)
        if problems:
            raise CrossFieldError(problems)
        return self

    @classmethod
    def _problems_despite_field_errors(cls, data: dict[Any, Any]) -> list[tuple[str, str]]:
        actions = data.get("actions")
        if not isinstance(actions, dict):
            return []  # no action names to hold the steps against
        formations: dict[str, tuple[str, list[StepRef]]] = {}
        raw_formations = data.get("formations")
        for name, formation in raw_formations.items() if isinstance(raw_formations, dict) else ():
            if isinstance(name, str) and isinstance(formation, dict):
                channel = formation.get("channel", "own")
                formations[name] = (
                    channel if channel in ("org_wide", "own") else "own",
                    raw_step_refs(formation.get("steps")),
                )
        names = [name for name in actions if isinstance(name, str)]
        return _reference_problems(
            names, valid_parts(Action, actions), valid_part(ChannelSelection, data.get("channels", {})), formations
        )

    @property
    def steady_rate_per_hour(self) -> float:
        """Total per-koi steady-state call rate, formations excluded (calls per hour)."""
        return sum(action.effective_rate_per_hour for action in self.actions.values())


def _reference_problems(
    action_names: Iterable[str],
    actions: Mapping[str, Action],
    channels: ChannelSelection | None,
    formations: Mapping[str, tuple[str, Sequence[StepRef]]],
) -> list[tuple[str, str]]:
    """Actions using channels no koi has, formations using an unset org-wide channel, unknown step actions.

    Args:
        action_names: every action's name, valid or not.
        actions: the valid actions.
        channels: the channel selection, None when it is invalid itself.
        formations: each formation's channel and steps.
    """
    problems: list[tuple[str, str]] = []
    if channels is not None:
        problems += _channel_problems(actions, channels, {name: channel for name, (channel, _) in formations.items()})
    names = list(action_names)
    for formation_name, (_, steps) in formations.items():
        for step in steps:
            if step.action is not None and step.action not in names:
                problems.append(
                    (
                        f"formations.{formation_name}.steps[{step.position}].action",
                        f"formation {formation_name!r} step {step.name!r} names unknown action "
                        f"{step.action!r}; actions: {', '.join(names)}",
                    )
                )
    return problems


def _channel_problems(
    actions: Mapping[str, Action], channels: ChannelSelection, formation_channels: Mapping[str, str]
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for name, action in actions.items():
        if channels.count_per_koi == 0 and action.effective_rate_per_hour > 0 and _uses_channel(action):
            problems.append(
                (f"actions.{name}", f"action {name!r} uses a channel variable but channels.count_per_koi is 0")
            )
    for name, channel in formation_channels.items():
        if channel == "org_wide" and channels.org_wide is None:
            problems.append(
                (
                    f"formations.{name}.channel",
                    f"formation {name!r} uses the org-wide channel but channels.org_wide names none",
                )
            )
    return problems


def _uses_channel(action: Action) -> bool:
    return bool({"channel.id", "channel.name", "message.ts"} & action.variables_used())


class StoredBehavior(BaseModel):
    """One immutable version of a named behavior, as the Keeper stores it."""

    model_config = FROZEN

    name: str = Field(pattern=BEHAVIOR_NAME_PATTERN)
    version: int = Field(ge=1)
    document: BehaviorDocument
    created_at: AwareDatetime
    created_by: str = Field(min_length=1, max_length=256)
