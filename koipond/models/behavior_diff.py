"""What changed between two behavior documents: actions, rates, templates, websocket, channels, formations.

Pure and symmetric: ``diff_behaviors(b, a) == diff_behaviors(a, b).reversed()``, and a document's diff with
itself is empty. Rates are per koi per hour (``rate_per_hour * weight``, as the scheduler runs them) and
per 1,000 koi per second, as ``koipond behaviors check`` previews them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from koipond.models.behavior import Action, BehaviorDocument
from koipond.models.behavior_preview import PER_KOI

ChangeKind = Literal["added", "removed", "changed"]
Section = Literal["description", "action", "websocket", "channels", "formation"]
_FLIPPED: dict[ChangeKind, ChangeKind] = {"added": "removed", "removed": "added", "changed": "changed"}
# Rates are their own rows (RateChange); the other fields of an action are its template.
_RATE_FIELDS = frozenset({"rate_per_hour", "weight"})


def per_1000_koi_per_second(per_koi_per_hour: float) -> float:
    """Requests/s of 1,000 koi at ``per_koi_per_hour`` each."""
    return per_koi_per_hour * PER_KOI / 3600


@dataclass(frozen=True)
class ActionRate:
    """An action only one side has, with its steady rate."""

    action: str
    method: str
    path: str
    per_koi_per_hour: float

    @property
    def requests_per_second(self) -> float:
        """Per 1,000 koi."""
        return per_1000_koi_per_second(self.per_koi_per_hour)


@dataclass(frozen=True)
class RateChange:
    """An action both sides have whose ``rate_per_hour`` or ``weight`` differs."""

    action: str
    rate_before: float
    weight_before: float
    rate_after: float
    weight_after: float

    @property
    def before_per_koi_per_hour(self) -> float:
        return self.rate_before * self.weight_before

    @property
    def after_per_koi_per_hour(self) -> float:
        return self.rate_after * self.weight_after

    @property
    def delta_per_koi_per_hour(self) -> float:
        return self.after_per_koi_per_hour - self.before_per_koi_per_hour

    @property
    def delta_requests_per_second(self) -> float:
        """Per 1,000 koi."""
        return per_1000_koi_per_second(self.delta_per_koi_per_hour)

    @property
    def percent(self) -> float | None:
        """The change relative to before, in percent; None when before was 0 (no ratio to a rate of 0)."""
        before = self.before_per_koi_per_hour
        return None if before == 0 else 100 * self.delta_per_koi_per_hour / before

    def reversed(self) -> RateChange:
        return RateChange(self.action, self.rate_after, self.weight_after, self.rate_before, self.weight_before)


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: where (section, subject, dotted field) and its JSON values on either side.

    ``before`` is None when the field was added, ``after`` when it was removed.
    """

    section: Section
    subject: str
    """The action or formation name; "" for the document's description, websocket and channels."""
    field: str
    kind: ChangeKind
    before: Any
    after: Any

    @property
    def where(self) -> str:
        """``actions.post_message.params.channel``, ``websocket.enabled``, ``formations.x.steps.react.koi``."""
        prefix = {"action": "actions.", "formation": "formations."}.get(self.section, self.section)
        parts = [prefix + self.subject if self.subject else prefix, self.field]
        return ".".join(part for part in parts if part)

    def reversed(self) -> FieldChange:
        return replace(self, kind=_FLIPPED[self.kind], before=self.after, after=self.before)


@dataclass(frozen=True)
class BehaviorDiff:
    """Everything that differs from one behavior document (before) to another (after), in name order."""

    actions_added: tuple[ActionRate, ...]
    actions_removed: tuple[ActionRate, ...]
    rate_changes: tuple[RateChange, ...]
    formations_added: tuple[str, ...]
    formations_removed: tuple[str, ...]
    changes: tuple[FieldChange, ...]
    """Every other field that differs: templates, websocket, channels, description, kept formations."""
    steady_before_per_koi_per_hour: float
    steady_after_per_koi_per_hour: float

    @property
    def empty(self) -> bool:
        return not (
            self.actions_added
            or self.actions_removed
            or self.rate_changes
            or self.formations_added
            or self.formations_removed
            or self.changes
        )

    def section(self, section: Section) -> tuple[FieldChange, ...]:
        return tuple(change for change in self.changes if change.section == section)

    def reversed(self) -> BehaviorDiff:
        """The diff from after to before."""
        return BehaviorDiff(
            actions_added=self.actions_removed,
            actions_removed=self.actions_added,
            rate_changes=tuple(change.reversed() for change in self.rate_changes),
            formations_added=self.formations_removed,
            formations_removed=self.formations_added,
            changes=tuple(change.reversed() for change in self.changes),
            steady_before_per_koi_per_hour=self.steady_after_per_koi_per_hour,
            steady_after_per_koi_per_hour=self.steady_before_per_koi_per_hour,
        )


def diff_behaviors(before: BehaviorDocument, after: BehaviorDocument) -> BehaviorDiff:
    """What changed from ``before`` to ``after``.

    Args:
        before: the older (or "A") document, validated.
        after: the newer (or "B") document, validated.

    Returns:
        Actions added and removed with their rates, rate changes, formations added and removed, and
        every other differing field (action templates, websocket, channels, description, and the fields
        and steps of formations both have), each list in name order.
    """
    kept = sorted(before.actions.keys() & after.actions.keys())
    kept_formations = sorted(before.formations.keys() & after.formations.keys())
    changes = [*_description(before, after)]
    for name in kept:
        changes += _changes("action", name, _template(before.actions[name]), _template(after.actions[name]))
    changes += _changes("websocket", "", _dump(before.websocket), _dump(after.websocket))
    changes += _changes("channels", "", _dump(before.channels), _dump(after.channels))
    for name in kept_formations:
        changes += _changes("formation", name, _formation(before, name), _formation(after, name))
    return BehaviorDiff(
        actions_added=_only_in(after, before),
        actions_removed=_only_in(before, after),
        rate_changes=tuple(
            change for name in kept if (change := _rate_change(name, before.actions[name], after.actions[name]))
        ),
        formations_added=tuple(sorted(after.formations.keys() - before.formations.keys())),
        formations_removed=tuple(sorted(before.formations.keys() - after.formations.keys())),
        changes=tuple(changes),
        steady_before_per_koi_per_hour=before.steady_rate_per_hour,
        steady_after_per_koi_per_hour=after.steady_rate_per_hour,
    )


def _only_in(one: BehaviorDocument, other: BehaviorDocument) -> tuple[ActionRate, ...]:
    return tuple(
        ActionRate(name, action.method, action.path, action.effective_rate_per_hour)
        for name, action in sorted(one.actions.items())
        if name not in other.actions
    )


def _rate_change(name: str, before: Action, after: Action) -> RateChange | None:
    if (before.rate_per_hour, before.weight) == (after.rate_per_hour, after.weight):
        return None
    return RateChange(name, before.rate_per_hour, before.weight, after.rate_per_hour, after.weight)


def _description(before: BehaviorDocument, after: BehaviorDocument) -> list[FieldChange]:
    if before.description == after.description:
        return []
    return [FieldChange("description", "", "", "changed", before.description, after.description)]


def _dump(model: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return dumped


def _template(action: Action) -> dict[str, Any]:
    return {key: value for key, value in _dump(action).items() if key not in _RATE_FIELDS}


def _formation(document: BehaviorDocument, name: str) -> dict[str, Any]:
    """A formation with its steps keyed by name (so one changed step is one row), and their order."""
    dumped = _dump(document.formations[name])
    steps = dumped.pop("steps")
    dumped["steps"] = {step.pop("name"): step for step in steps}
    dumped["step_order"] = list(dumped["steps"])
    return dumped


def _changes(section: Section, subject: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    return [
        FieldChange(section, subject, field, kind, old, new) for field, kind, old, new in _leaf_changes(before, after)
    ]


def _leaf_changes(before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[Any, ...]]:
    """``(dotted field, kind, before, after)`` for every differing leaf; objects are entered, lists compared whole."""
    for key in sorted(before.keys() | after.keys()):
        field = f"{prefix}{key}"
        if key not in after:
            yield field, "removed", before[key], None
        elif key not in before:
            yield field, "added", None, after[key]
        elif isinstance(before[key], dict) and isinstance(after[key], dict):
            yield from _leaf_changes(before[key], after[key], f"{field}.")
        elif before[key] != after[key] or type(before[key]) is not type(after[key]):
            yield field, "changed", before[key], after[key]
