"""Continuous tests: resume a test the guard stopped, when its policy is ``auto`` and the guard is healthy again.

The decision (:func:`resume_decision`) is pure. A stopped continuous test with ``resume_policy.mode == "auto"``
resumes when all of these hold:

1. the emergency stop is not active, and was not pulled since the test's stop (lifting the stop never restarts
   load by itself: that stays a person's call, as :mod:`koipond.services.emergency_stop` promises);
2. the test's latest stop was the guard's (an automatic shutdown); a test a person stopped is never resumed
   automatically, whatever its policy, so the tick never fights a person;
3. ``cool_down_seconds`` have passed since that stop, and
4. the guard vouches for the time since: every enabled query covering the test is ``healthy`` or ``no_data``
   now, evaluated at or after the cool-down's end (see :mod:`koipond.services.rollout_steps`).

A guard *shed* is not a stop and is left alone. The resume is an ordinary ``test_resumed`` history event by the
actor ``auto-resume`` with the reason, written only if the test is still at the version the tick read.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from koipond.clock import Clock
from koipond.errors import ConflictError, TooManyRunningTestsError, TransactionConflictError
from koipond.models.durations import format_duration
from koipond.models.estop import EmergencyStop
from koipond.models.history import AUTO_RESUME_ACTOR, GUARD_ACTOR, EventKind, HistoryEvent
from koipond.models.tests import LoadTest, LoadTestStatus
from koipond.services.loadtests import LoadTestService
from koipond.services.ports.estop import EmergencyStopRepository
from koipond.services.ports.guard import GuardRepository
from koipond.services.ports.history import HistoryRepository
from koipond.services.rollout_steps import GuardView, guard_view

_RECENT_EVENTS = 20  # a stopped test gathers few events; its latest stop is among the newest


@dataclass(frozen=True)
class ResumeDecision:
    resume: bool
    why: str


def resume_decision(
    test: LoadTest, last_stop: HistoryEvent | None, now: datetime, guard: GuardView, estop: EmergencyStop
) -> ResumeDecision:
    """Whether the tick resumes ``test`` now (rules in the module docstring), and why (not).

    Args:
        last_stop: the test's latest ``test_stopped`` history event; None if it has none.
    """
    policy = test.resume_policy
    if test.status is not LoadTestStatus.STOPPED:
        return ResumeDecision(False, f"the test is {test.status.value}")
    if policy.mode != "auto" or not test.continuous:
        return ResumeDecision(False, "its resume policy is manual")
    if estop.active:
        return ResumeDecision(False, "the emergency stop is active")
    if last_stop is None or last_stop.actor != GUARD_ACTOR:
        who = "nobody knows whom" if last_stop is None else last_stop.actor
        return ResumeDecision(False, f"stopped by {who}, not by the guard: only a person resumes it")
    if estop.activated_at is not None and estop.activated_at >= last_stop.at:
        return ResumeDecision(False, "the emergency stop was pulled since the guard stopped it")
    cooled_at = last_stop.at + timedelta(seconds=policy.cool_down_seconds)
    if now < cooled_at:
        return ResumeDecision(False, f"cooling down until {cooled_at.isoformat()}")
    if not guard.vouches_since(cooled_at):
        return ResumeDecision(False, guard.unhealthy or "waiting for a guard evaluation after the cool-down")
    cool_down = format_duration(policy.cool_down_seconds)
    why = f"automatic resume: cool-down of {cool_down} passed since the guard's stop ({last_stop.reason})"
    return ResumeDecision(True, f"{why} and the guard is healthy")


class ContinuousTestService:
    """The release tick step ``continuous``."""

    def __init__(
        self,
        tests: LoadTestService,
        history: HistoryRepository,
        guard: GuardRepository,
        estop: EmergencyStopRepository,
        clock: Clock,
    ) -> None:
        self._tests = tests
        self._history = history
        self._guard = guard
        self._estop = estop
        self._clock = clock

    def tick(self) -> dict[str, Any]:
        """Resume the stopped continuous tests whose policy and the guard allow it."""
        candidates = [
            t for t in self._tests.list_tests(LoadTestStatus.STOPPED) if t.continuous and t.resume_policy.mode == "auto"
        ]
        if not candidates:
            return {"auto": 0}
        estop = self._estop.get()
        queries = self._guard.list_queries()
        last = self._guard.last_evaluations([q.label for q in queries])
        counts: Counter[str] = Counter()
        for listed in candidates:
            test = self._tests.get(listed.id)  # the index may lag; decide on the consistent read
            decision = resume_decision(
                test, self._last_stop(test.id), self._clock.now(), guard_view(test.tags, queries, last, ()), estop
            )
            if not decision.resume:
                counts["waiting"] += 1
                continue
            try:
                # Pinned to the version read: a person who touched the test meanwhile wins.
                self._tests.resume(test.id, AUTO_RESUME_ACTOR, decision.why, expected_version=test.version)
            except TooManyRunningTestsError:
                counts["at_cap"] += 1  # tried again next tick, once a running test stops
                continue
            except (ConflictError, TransactionConflictError):
                counts["raced"] += 1  # a person (or another tick) changed the test first
                continue
            counts["resumed"] += 1  # the resume's event is its notification intent
        return {"auto": len(candidates), **counts}

    def _last_stop(self, test_id: str) -> HistoryEvent | None:
        recent = self._history.list_events(test_id, newest_first=True, limit=_RECENT_EVENTS)
        return next((e for e in recent if e.kind is EventKind.TEST_STOPPED), None)
