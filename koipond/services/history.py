"""Building history events: who did what, when and why."""

from __future__ import annotations

from typing import Any

from koipond.ids import new_event_id
from koipond.models.history import EventKind, HistoryEvent
from koipond.ports import Clock


def new_event(
    clock: Clock,
    subject: str,
    kind: EventKind,
    actor: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> HistoryEvent:
    """A history event stamped now, with a time-sortable id."""
    at = clock.now()
    return HistoryEvent(
        id=new_event_id(at),
        subject=subject,
        kind=kind,
        actor=actor,
        reason=reason,
        at=at,
        details=details or {},
    )
