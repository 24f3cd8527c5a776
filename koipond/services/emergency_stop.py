"""The emergency stop: pull it and every test stops and no new load starts; lift it to allow load again."""

from __future__ import annotations

import time
from dataclasses import dataclass

from koipond.clock import Clock
from koipond.errors import StaleVersionError
from koipond.models.estop import EmergencyStop
from koipond.models.history import ESTOP_SUBJECT, EventKind, HistoryEvent
from koipond.models.tests import LoadTestStatus
from koipond.services.history import new_event
from koipond.services.loadtests import LoadTestService
from koipond.services.ports.estop import EmergencyStopRepository
from koipond.services.ports.history import HistoryRepository

# How long a request (or an allocator pass) spends stopping tests one by one while the stop holds.
REQUEST_BUDGET_SECONDS = 0.5


def stop_running_tests(tests: LoadTestService, estop: EmergencyStop, budget_seconds: float) -> int:
    """Stop running tests in the name of whoever pulled ``estop``, for at most ``budget_seconds``.

    Returns:
        How many tests were stopped; tests left running are stopped by a later call.
    """
    if not estop.active:
        return 0
    deadline = time.monotonic() + budget_seconds
    stopped = 0
    for test in tests.list_tests(LoadTestStatus.RUNNING):
        if time.monotonic() > deadline:
            break
        tests.stop(test.id, estop.activated_by or "emergency stop", f"emergency stop: {estop.reason}")
        stopped += 1
    return stopped


@dataclass(frozen=True)
class EmergencyStopStatus:
    state: EmergencyStop
    history: list[HistoryEvent]
    changed: bool = False


class EmergencyStopService:
    def __init__(
        self,
        estop: EmergencyStopRepository,
        history: HistoryRepository,
        tests: LoadTestService,
        clock: Clock,
    ) -> None:
        self._estop = estop
        self._history = history
        self._tests = tests
        self._clock = clock

    def status(self, history_limit: int = 50) -> EmergencyStopStatus:
        return EmergencyStopStatus(state=self._estop.get(), history=self._recent(history_limit))

    def activate(self, actor: str, reason: str) -> EmergencyStopStatus:
        """Pull the stop (idempotent), then stop the running tests, each with a history event.

        The switch is flipped first: from that moment every poll tells every School to stop all
        koi, so load halts within one poll interval even if stopping the tests one by one fails.
        The request stops tests for at most ``REQUEST_BUDGET_SECONDS``; the allocator stops the rest
        on its next passes (1,000 tests one by one would outlast API Gateway's 29 s, and would hold a
        local Keeper, which answers one request at a time, away from the Schools' polls).
        """
        current = self._estop.get()
        changed = False
        if not current.active:
            now = self._clock.now()
            state = EmergencyStop(active=True, reason=reason, activated_by=actor, activated_at=now)
            event = new_event(self._clock, ESTOP_SUBJECT, EventKind.ESTOP_ACTIVATED, actor, reason)
            # The event is its notification intent, written with the switch: the release tick sends it.
            self._save(state, current.version, event)
            changed = True
        stored = self._estop.get()
        stop_running_tests(self._tests, stored, REQUEST_BUDGET_SECONDS)
        return EmergencyStopStatus(stored, self._recent(), changed)

    def lift(self, actor: str, reason: str | None) -> EmergencyStopStatus:
        """Lift the stop (idempotent). Tests stay stopped: resuming load is a deliberate act."""
        current = self._estop.get()
        if not current.active:
            return EmergencyStopStatus(current, self._recent(), changed=False)
        lifted = current.model_copy(
            update={
                "active": False,
                "lifted_by": actor,
                "lifted_at": self._clock.now(),
                "lift_reason": reason,
            }
        )
        event = new_event(self._clock, ESTOP_SUBJECT, EventKind.ESTOP_LIFTED, actor, reason)
        self._save(lifted, current.version, event)  # its event notifies, as the pull's does
        return EmergencyStopStatus(self._estop.get(), self._recent(), changed=True)

    def _save(self, state: EmergencyStop, expected_version: int, event: HistoryEvent) -> None:
        """Store the flip with its event (its notification intent); someone else's identical flip is as good."""
        try:
            self._estop.save(state, expected_version, event)
        except StaleVersionError:
            # Someone flipped it at the same moment; their flip is in history (and notifies), ours would repeat it.
            if self._estop.get().active != state.active:
                raise

    def _recent(self, limit: int = 50) -> list[HistoryEvent]:
        return self._history.list_events(ESTOP_SUBJECT, newest_first=True, limit=limit)
