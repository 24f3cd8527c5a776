"""Reconciliation, pure: from what runs and what the Keeper wants, which koi to start and stop."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from koipond.api.poll import PollRange


@dataclass(frozen=True)
class Desired:
    """What the Keeper wants for one test on this School; a change of identity restarts its koi."""

    test_id: str
    indexes: frozenset[int]
    identity: tuple[str, ...]  # behavior name+version, target, workspace: what a koi is built from


@dataclass(frozen=True)
class Plan:
    start: dict[str, frozenset[int]] = field(default_factory=dict)
    stop: dict[str, frozenset[int]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.start and not self.stop


def indexes_of(ranges: Iterable[PollRange]) -> frozenset[int]:
    return frozenset(i for r in ranges for i in range(r.start, r.end))


def plan_changes(
    running: Mapping[str, frozenset[int]],
    running_identity: Mapping[str, tuple[str, ...]],
    desired: Mapping[str, Desired],
) -> Plan:
    """Koi to stop and to start so that exactly ``desired`` runs, touching nothing else.

    Koi of a test whose identity changed (new behavior version, another target) all restart;
    every other koi that should keep running keeps running, so a shed or a scale never disturbs
    the koi it does not concern.
    """
    start: dict[str, frozenset[int]] = {}
    stop: dict[str, frozenset[int]] = {}
    for test_id, indexes in running.items():
        want = desired.get(test_id)
        gone = indexes if want is None or want.identity != running_identity.get(test_id) else indexes - want.indexes
        if gone:
            stop[test_id] = gone
    for test_id, want in desired.items():
        kept = running.get(test_id, frozenset()) - stop.get(test_id, frozenset())
        new = want.indexes - kept
        if new:
            start[test_id] = new
    return Plan(start=start, stop=stop)
