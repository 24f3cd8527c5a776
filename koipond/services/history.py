"""Building history events: who did what, when and why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from koipond.clock import Clock
from koipond.ids import new_event_id
from koipond.models.history import EventKind, HistoryEvent


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


# School ids are up to 64 characters: a bound on the characters of each id list, beside max_ids,
# keeps a reallocation event under 2 KB whatever the ids look like.
_ID_LIST_CHARS = 640


def reallocation_details(before: Mapping[str, int], after: Mapping[str, int], max_ids: int = 20) -> dict[str, Any]:
    """Compact details of one test's reallocation: totals, counts and a few School ids.

    The size is bounded whatever the number of Schools (a map of every School is 78 KB at 1,000).

    Args:
        before: koi per School of the test before the reallocation.
        after: koi per School of the test after it.
        max_ids: most School ids listed in ``gained`` and in ``lost``.

    Returns:
        ``koi``/``previous_koi`` (totals), ``schools``/``previous_schools`` (Schools holding koi),
        ``gained``/``lost`` (sorted ids of Schools that newly hold koi / no longer hold any) and
        ``gained_more``/``lost_more`` (how many ids were left off).
    """
    holding_before = {school for school, koi in before.items() if koi > 0}
    holding_after = {school for school, koi in after.items() if koi > 0}
    gained, gained_more = _some_ids(sorted(holding_after - holding_before), max_ids)
    lost, lost_more = _some_ids(sorted(holding_before - holding_after), max_ids)
    return {
        "koi": sum(koi for koi in after.values() if koi > 0),
        "previous_koi": sum(koi for koi in before.values() if koi > 0),
        "schools": len(holding_after),
        "previous_schools": len(holding_before),
        "gained": gained,
        "gained_more": gained_more,
        "lost": lost,
        "lost_more": lost_more,
    }


def _some_ids(ids: Sequence[str], max_ids: int) -> tuple[list[str], int]:
    kept: list[str] = []
    chars = 0
    for school in ids[: max(max_ids, 0)]:
        chars += len(school) + 4  # the quotes, comma and space around it in JSON
        if chars > _ID_LIST_CHARS:
            break
        kept.append(school)
    return kept, len(ids) - len(kept)


def describe_reallocation(details: Mapping[str, Any]) -> str:
    """The reason line of a reallocation, e.g. ``koi left school-3, school-9; koi assigned to school-12 (+3 more)``."""
    parts = []
    if lost := _listed(details.get("lost", []), details.get("lost_more", 0)):
        parts.append(f"koi left {lost}")
    if gained := _listed(details.get("gained", []), details.get("gained_more", 0)):
        parts.append(f"koi assigned to {gained}")
    if not parts:
        return f"koi moved within the same {details.get('schools', 0)} Schools"
    return "; ".join(parts)


def _listed(ids: Sequence[str], more: int) -> str:
    text = ", ".join(ids)
    if more:
        text = f"{text} (+{more} more)" if text else f"{more} Schools"
    return text
