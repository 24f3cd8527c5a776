"""Which history events notify people, and what each notification says: pure, no I/O.

A transition's history event is its own notification intent: the event is written in the transition's
transaction, so no process can die between the state change and the promise to tell people about it.
The release tick reads the events still waiting (see :mod:`koipond.notifications.store`) and turns each
into one outbox notification per route with :func:`plan_notifications`.

| history event                      | by               | notification             | key                          |
|------------------------------------|------------------|--------------------------|------------------------------|
| ``estop_activated``                | anyone           | emergency_stop_on        | ``estop#on#<event id>``      |
| ``estop_lifted``                   | anyone           | emergency_stop_off       | ``estop#off#<event id>``     |
| ``rollout_*`` (every transition)   | anyone           | rollout_* (see below)    | ``rollout#<event id>``       |
| ``deploy_judged``                  | the release tick | deploy_verdict           | ``deploy#<id>#<outcome>``    |
| ``test_stopped``, ``test_shed``    | the guard        | automatic_shutdown       | ``guard#<label>#<event id>`` |
| ``test_resumed``                   | automatic resume | automatic_resume         | ``auto-resume#<event id>``   |
| ``behavior_rederived``             | the release tick | behavior_rederived       | ``behavior#<name>#v<n>``     |
| ``behavior_rederive_failed``       | the release tick | behavior_rederive_failed | ``behavior#<event id>``      |

The guard stops the tests of one breach one transaction at a time; their events (same kind, same reason)
become one notification listing the tests, so a breach over 500 tests is one Slack message, not 500.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from koipond.models.durations import format_duration
from koipond.models.history import AUTO_RESUME_ACTOR, GUARD_ACTOR, EventKind, HistoryEvent
from koipond.notifications.kinds import NotificationKind

# The guard's stops of one breach are grouped at most this many to a notification, so expanding one stays
# one transaction: 20 routes (the configuration's maximum) + 50 events is far below DynamoDB's 100 actions.
MAX_GROUP = 50
# The guard records ``guard <label>: <detail>``; a label has no space or colon (koipond.models.guard).
_GUARD_REASON = re.compile(r"^guard ([a-z0-9][a-z0-9_-]{0,62}): ")

_ROLLOUT_KINDS = {
    EventKind.ROLLOUT_STARTED: NotificationKind.ROLLOUT_STAGE_STARTED,
    # A resumed stage starts over, and an abort stops the ramp where it is: people watch for these as they
    # would for a stage start and a pause.
    EventKind.ROLLOUT_RESUMED: NotificationKind.ROLLOUT_STAGE_STARTED,
    EventKind.ROLLOUT_ADVANCED: NotificationKind.ROLLOUT_ADVANCED,
    EventKind.ROLLOUT_COMPLETED: NotificationKind.ROLLOUT_STAGE_HELD,
    EventKind.ROLLOUT_PAUSED: NotificationKind.ROLLOUT_PAUSED,
    EventKind.ROLLOUT_ABORTED: NotificationKind.ROLLOUT_PAUSED,
}


@dataclass(frozen=True)
class LoadTestFacts:
    """What a notification about a test names beyond its event: read when the intent is expanded."""

    name: str
    koi: int


@dataclass(frozen=True)
class PlannedNotification:
    """One notification and the intents (history events) it fulfils."""

    kind: NotificationKind
    key: str
    text: str
    fields: dict[str, str]
    events: tuple[HistoryEvent, ...]


def notification_kind(event: HistoryEvent) -> NotificationKind | None:
    """The notification ``event`` asks for, or None when it notifies nobody."""
    if event.kind is EventKind.ESTOP_ACTIVATED:
        return NotificationKind.EMERGENCY_STOP_ON
    if event.kind is EventKind.ESTOP_LIFTED:
        return NotificationKind.EMERGENCY_STOP_OFF
    if event.kind in _ROLLOUT_KINDS:
        return _ROLLOUT_KINDS[event.kind]
    if event.kind is EventKind.DEPLOY_JUDGED:
        return NotificationKind.DEPLOY_VERDICT
    if event.kind is EventKind.BEHAVIOR_REDERIVED:
        return NotificationKind.BEHAVIOR_REDERIVED
    if event.kind is EventKind.BEHAVIOR_REDERIVE_FAILED:
        return NotificationKind.BEHAVIOR_REDERIVE_FAILED
    if event.kind in {EventKind.TEST_STOPPED, EventKind.TEST_SHED} and event.actor == GUARD_ACTOR:
        return NotificationKind.AUTOMATIC_SHUTDOWN
    if event.kind is EventKind.TEST_RESUMED and event.actor == AUTO_RESUME_ACTOR:
        return NotificationKind.AUTOMATIC_RESUME
    return None


def plan_notifications(
    events: Sequence[HistoryEvent], tests: Mapping[str, LoadTestFacts] | None = None
) -> list[PlannedNotification]:
    """The notifications that fulfil ``events`` (each event in exactly one), oldest first.

    Args:
        events: history events waiting to notify, oldest first; events that do not notify are left out.
        tests: name and koi of the tests that automatic resumes name (others fall back to the id).

    Returns:
        One notification per event, except the guard's events of one breach (same kind and reason),
        which share one notification per ``MAX_GROUP`` events.
    """
    groups: dict[tuple[Any, ...], list[HistoryEvent]] = {}
    for event in events:
        kind = notification_kind(event)
        if kind is None:
            continue
        if kind is NotificationKind.AUTOMATIC_SHUTDOWN:
            group: tuple[Any, ...] = (kind, event.kind, event.reason, _shed_to(event))
            while len(groups.get(group, ())) >= MAX_GROUP:
                group = (*group, "more")
        else:
            group = (event.id,)
        groups.setdefault(group, []).append(event)
    planned: dict[str, PlannedNotification] = {}
    for members in groups.values():
        note = _render(members, tests or {})
        same = planned.get(note.key)
        # Events that render one key (a deploy judged twice to one outcome) are one notice: the outbox keeps
        # one item per key, and that item fulfils every one of their intents.
        planned[note.key] = replace(same, events=same.events + note.events) if same else note
    return list(planned.values())


def _render(events: list[HistoryEvent], tests: Mapping[str, LoadTestFacts]) -> PlannedNotification:
    first = events[0]
    kind = notification_kind(first)
    assert kind is not None
    if kind is NotificationKind.AUTOMATIC_SHUTDOWN:
        text, fields, key = _automatic_shutdown(events)
    else:
        text, fields, key = _RENDERERS[kind](first, tests)
    return PlannedNotification(kind=kind, key=key, text=text, fields=fields, events=tuple(events))


Rendered = tuple[str, dict[str, str], str]


def _estop_on(event: HistoryEvent, _: Mapping[str, LoadTestFacts]) -> Rendered:
    text = (
        f"Emergency stop pulled by {event.actor}: {event.reason}. Every test is stopping and no new load "
        "starts until it is lifted (`koipond estop off --reason ...`)."
    )
    return text, _estop_fields(event), f"estop#on#{event.id}"


def _estop_off(event: HistoryEvent, _: Mapping[str, LoadTestFacts]) -> Rendered:
    why = f": {event.reason}" if event.reason else ""
    text = f"Emergency stop lifted by {event.actor}{why}. Tests stay stopped until someone resumes them."
    return text, _estop_fields(event), f"estop#off#{event.id}"


def _estop_fields(event: HistoryEvent) -> dict[str, str]:
    return {"actor": event.actor, "reason": event.reason or "", "at": event.at.isoformat()}


def _rollout(event: HistoryEvent, _: Mapping[str, LoadTestFacts]) -> Rendered:
    details = event.details
    label = f"{details.get('to_stage')}/{details.get('stages')}"
    koi = int(details.get("koi") or 0)
    hold = format_duration(float(details.get("hold_seconds") or 0))
    transition = event.kind.value.removeprefix("rollout_")
    head = f"Rollout {event.subject} of test {details.get('test_id')}"
    texts = {
        EventKind.ROLLOUT_STARTED: f"{head} started stage {label}: {koi:,} koi, hold {hold}.",
        EventKind.ROLLOUT_ADVANCED: f"{head} advanced to stage {label}: {koi:,} koi, hold {hold}.",
        EventKind.ROLLOUT_COMPLETED: f"{head} held its last stage {label} ({koi:,} koi): complete.",
        EventKind.ROLLOUT_PAUSED: f"{head} paused at stage {label} ({koi:,} koi); resume it by hand.",
        EventKind.ROLLOUT_RESUMED: f"{head} resumed stage {label}: {koi:,} koi, hold {hold} starts over.",
        EventKind.ROLLOUT_ABORTED: f"{head} aborted at stage {label}; the test keeps running as it is.",
    }
    reason = event.reason or ""
    fields = {
        "rollout": event.subject,
        "test": str(details.get("test_id", "")),
        "transition": event.id,
        "event": transition,
        "stage": label,
        "koi": str(koi),
        "hold": hold,
        "reason": reason,
        "actor": event.actor,
    }
    return f"{texts[event.kind]} Reason: {reason}", fields, f"rollout#{event.id}"


def _deploy_verdict(event: HistoryEvent, _: Mapping[str, LoadTestFacts]) -> Rendered:
    details = event.details
    deploy_id = event.subject.removeprefix("deploy:")
    outcome = str(details.get("outcome", ""))
    reason = event.reason or ""
    text = f"Deploy {details.get('build')} of {details.get('service')}: {outcome.upper()}. {reason}"
    fields = {
        "deploy_id": deploy_id,
        "service": str(details.get("service", "")),
        "build": str(details.get("build", "")),
        "outcome": outcome,
        "reason": reason,
        "at": str(details.get("at", "")),
    }
    # One verdict per deploy and outcome, as before intents: a deploy is judged once.
    return text, fields, f"deploy#{deploy_id}#{outcome}"


def _behavior_rederived(event: HistoryEvent, _: Mapping[str, LoadTestFacts]) -> Rendered:
    details = event.details
    name = event.subject.removeprefix("behavior:")
    version = int(details.get("version") or 0)
    changes = [str(change) for change in details.get("changes") or []]
    source = str(details.get("source", ""))
    text = (
        f"Behavior {name} re-derived from {source}: version {version} published "
        f"(was {details.get('previous_version')}). Changed: {'; '.join(changes)}. Tests that follow its latest "
        "version move onto it in batches."
    )
    fields = {
        "behavior": name,
        "version": str(version),
        "previous_version": str(details.get("previous_version", "")),
        "source": source,
        "changes": "; ".join(changes),
    }
    # One notice per published version: a version is published once.
    return text, fields, f"behavior#{name}#v{version}"


def _behavior_rederive_failed(event: HistoryEvent, _: Mapping[str, LoadTestFacts]) -> Rendered:
    details = event.details
    name = event.subject.removeprefix("behavior:")
    source = str(details.get("source", ""))
    reason = event.reason or ""
    retry = str(details.get("next_due_at", ""))
    text = f"Behavior {name} could not be re-derived from {source}: {reason} No new version; next try at {retry}."
    fields = {"behavior": name, "source": source, "reason": reason, "next_due_at": retry}
    return text, fields, f"behavior#{event.id}"


def _automatic_resume(event: HistoryEvent, tests: Mapping[str, LoadTestFacts]) -> Rendered:
    facts = tests.get(event.subject)
    name = facts.name if facts else event.subject
    koi = f", {facts.koi:,} koi" if facts else ""
    why = event.reason or ""
    text = f"Load is back: continuous test {name} ({event.subject}{koi}) resumed by itself. {why}."
    fields = {"test_id": event.subject, "test_name": name, "koi": str(facts.koi) if facts else "", "reason": why}
    return text, fields, f"auto-resume#{event.id}"


def _automatic_shutdown(events: list[HistoryEvent]) -> Rendered:
    first = events[0]
    reason = first.reason or "guard"
    shed = _shed_to(first)
    verb = "stopped" if first.kind is EventKind.TEST_STOPPED else f"shed {shed:g}% of"
    text = f"Automatic shutdown: {verb} {len(events)} test(s). {reason}"
    match = _GUARD_REASON.match(reason)
    label = match.group(1) if match else ""
    tests = ",".join(e.subject for e in events)
    # The oldest event names the group: a group is expanded (and its events consumed) in one transaction,
    # so no event is ever part of two groups with different keys.
    return text, {"label": label, "tests": tests, "reason": reason}, f"guard#{label}#{first.id}"


def _shed_to(event: HistoryEvent) -> float:
    shed = event.details.get("shed_percent")
    return float(shed[-1]) if isinstance(shed, list) and shed else 0.0


_RENDERERS: dict[NotificationKind, Callable[[HistoryEvent, Mapping[str, LoadTestFacts]], Rendered]] = {
    NotificationKind.EMERGENCY_STOP_ON: _estop_on,
    NotificationKind.EMERGENCY_STOP_OFF: _estop_off,
    NotificationKind.ROLLOUT_STAGE_STARTED: _rollout,
    NotificationKind.ROLLOUT_ADVANCED: _rollout,
    NotificationKind.ROLLOUT_STAGE_HELD: _rollout,
    NotificationKind.ROLLOUT_PAUSED: _rollout,
    NotificationKind.DEPLOY_VERDICT: _deploy_verdict,
    NotificationKind.AUTOMATIC_RESUME: _automatic_resume,
    NotificationKind.BEHAVIOR_REDERIVED: _behavior_rederived,
    NotificationKind.BEHAVIOR_REDERIVE_FAILED: _behavior_rederive_failed,
}
