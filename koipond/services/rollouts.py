"""Rollouts driver: create, steer by hand, and move forward on the release tick; every transition notifies once."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from koipond.clock import Clock
from koipond.errors import (
    ConflictError,
    EmergencyStopActiveError,
    NotFoundError,
    StaleVersionError,
    TransactionConflictError,
)
from koipond.models.history import EventKind, HistoryEvent
from koipond.models.rollouts import Rollout, RolloutStatus, Transition, TransitionKind
from koipond.models.tests import LoadTest, LoadTestStatus
from koipond.services import rollout_steps as steps
from koipond.services.history import new_event
from koipond.services.loadtests import LoadTestChange, LoadTestService
from koipond.services.ports.estop import EmergencyStopRepository
from koipond.services.ports.guard import GuardRepository
from koipond.services.ports.rollouts import RolloutRepository
from koipond.services.ports.writes import StagedWrite, UnitOfWork

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_EVENT_KINDS = {
    TransitionKind.STARTED: EventKind.ROLLOUT_STARTED,
    TransitionKind.ADVANCED: EventKind.ROLLOUT_ADVANCED,
    TransitionKind.COMPLETED: EventKind.ROLLOUT_COMPLETED,
    TransitionKind.PAUSED: EventKind.ROLLOUT_PAUSED,
    TransitionKind.RESUMED: EventKind.ROLLOUT_RESUMED,
    TransitionKind.ABORTED: EventKind.ROLLOUT_ABORTED,
}


def new_rollout_id() -> str:
    return "ro-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def conflict_for_existing(test_id: str, rollout_id: str) -> ConflictError:
    return ConflictError(
        f"test {test_id!r} is driven by rollout {rollout_id!r} already; abort it first",
        {"test_id": test_id, "rollout_id": rollout_id},
    )


class RolloutService:
    def __init__(
        self,
        rollouts: RolloutRepository,
        tests: LoadTestService,
        guard: GuardRepository,
        estop: EmergencyStopRepository,
        clock: Clock,
        max_koi_per_test: int,
        writes: UnitOfWork,
    ) -> None:
        """Args:
        writes: commits a transition's staged writes when no change of its test leads them.
        """
        self._rollouts = rollouts
        self._writes = writes
        self._tests = tests
        self._guard = guard
        self._estop = estop
        self._clock = clock
        self._max_koi = max_koi_per_test

    def get(self, rollout_id: str) -> Rollout:
        return self._rollouts.get(rollout_id)

    def list_rollouts(self, status: RolloutStatus | None = None) -> list[Rollout]:
        return self._rollouts.list_by_status(status)

    def transitions(self, rollout_id: str) -> list[HistoryEvent]:
        return self._rollouts.transitions(rollout_id)

    def create(self, test_id: str, plan: Sequence[tuple[int, int]], actor: str, reason: str | None) -> Rollout:
        """Attach a plan of ``(koi, hold_seconds)`` stages to a running test and start stage 1 (scaling the test).

        Raises:
            BadRequestError: the plan is invalid.
            NotFoundError: no such test.
            ConflictError: the test is not running, or another rollout drives it.
            EmergencyStopActiveError: the emergency stop is active.
        """
        stages = steps.build_plan(plan, self._max_koi)
        estop = self._estop_reason()
        if estop is not None:
            raise EmergencyStopActiveError(f"the emergency stop is active ({estop}); rollouts cannot start")
        test = self._tests.get(test_id)
        if test.status is not LoadTestStatus.RUNNING:
            raise ConflictError(f"test {test_id!r} is {test.status.value}; rollouts attach to running tests")
        existing = self._rollouts.active_for_test(test_id)
        if existing is not None:
            raise conflict_for_existing(test_id, existing)
        now = self._clock.now()
        rollout = Rollout(
            id=new_rollout_id(), test_id=test_id, stages=stages, current=0, stage_started_at=now,
            created_at=now, created_by=actor, updated_at=now,
        )  # fmt: skip
        koi = stages[0].koi if stages[0].koi != test.koi else None
        started = Transition(
            kind=TransitionKind.STARTED,
            actor=actor,
            reason=reason or f"started by {actor}",
            at=now,
            to_stage=0,
            koi=koi,
        )
        event = self._event(rollout, started)
        try:
            self._write(rollout, started, self._rollouts.create_actions(rollout, event), test)
        except StaleVersionError:
            existing = self._rollouts.active_for_test(test_id)
            if existing is not None:
                raise conflict_for_existing(test_id, existing) from None
            raise
        return rollout

    def advance(self, rollout_id: str, actor: str, reason: str) -> Rollout:
        return self._by_hand(rollout_id, lambda r, t: steps.advance(r, actor, reason, self._clock.now()))

    def pause(self, rollout_id: str, actor: str, reason: str) -> Rollout:
        return self._by_hand(rollout_id, lambda r, t: steps.pause(r, actor, reason, self._clock.now()))

    def resume(self, rollout_id: str, actor: str, reason: str) -> Rollout:
        def decide(rollout: Rollout, test: LoadTest | None) -> Transition:
            return steps.resume(rollout, actor, reason, self._clock.now(), _view(test), self._estop_reason())

        return self._by_hand(rollout_id, decide)

    def abort(self, rollout_id: str, actor: str, reason: str) -> Rollout:
        return self._by_hand(rollout_id, lambda r, t: steps.abort(r, actor, reason, self._clock.now()))

    def tick(self) -> dict[str, Any]:
        """Move every holding rollout forward as :func:`koipond.services.rollout_steps.decide` says (one tick)."""
        holding = self._rollouts.list_by_status(RolloutStatus.HOLDING)
        if not holding:
            return {"holding": 0}
        estop = self._estop_reason()
        queries = self._guard.list_queries()
        last = self._guard.last_evaluations([q.label for q in queries])
        counts: Counter[str] = Counter()
        for listed in holding:
            try:
                rollout = self._rollouts.get(listed.id)  # the index may lag; decide on the consistent read
                test = self._test_or_none(rollout.test_id)
                events = [] if test is None else self._rollouts.events_since(test.id, rollout.stage_started_at)
                view = steps.guard_view(test.tags if test else (), queries, last, events)
                transition = steps.decide(rollout, self._clock.now(), view, estop, _view(test))
                if transition is not None:
                    self._commit(rollout, transition, test)
                    counts[transition.kind.value] += 1
            except (ConflictError, TransactionConflictError):
                counts["raced"] += 1  # another tick or a person moved it first; the next tick looks again
        return {"holding": len(holding), **counts}

    def _by_hand(self, rollout_id: str, decide: Callable[[Rollout, LoadTest | None], Transition]) -> Rollout:
        rollout = self._rollouts.get(rollout_id)
        test = self._test_or_none(rollout.test_id)
        return self._commit(rollout, decide(rollout, test), test)

    def _commit(self, rollout: Rollout, transition: Transition, test: LoadTest | None) -> Rollout:
        """Persist ``transition`` (and the test's scaling) in one transaction; its event is its notification intent."""
        after = steps.apply(rollout, transition)
        event = self._event(after, transition)
        self._write(rollout, transition, self._rollouts.save_actions(after, rollout.version, event), test)
        return after.model_copy(update={"version": rollout.version + 1})

    def _write(
        self, rollout: Rollout, transition: Transition, writes: Sequence[StagedWrite], test: LoadTest | None
    ) -> None:
        if transition.koi is not None and test is not None:
            stage = f"stage {rollout.stage_label(transition.to_stage)}"
            self._tests.change(
                test.id,
                LoadTestChange(koi=transition.koi),
                transition.actor,
                f"rollout {rollout.id} {stage}: {transition.reason}",
                expected_version=test.version,
                also=writes,
            )
            return
        if test is not None and transition.kind in {TransitionKind.STARTED, TransitionKind.RESUMED}:
            writes = [*writes, self._rollouts.test_unchanged_action(test.id, test.version)]
        try:
            self._writes.commit(writes)
        except StaleVersionError as exc:
            raise StaleVersionError(
                f"rollout {rollout.id!r} or its test changed meanwhile; read it again and retry",
                {"rollout_id": rollout.id},
            ) from exc

    def _event(self, rollout: Rollout, transition: Transition) -> HistoryEvent:
        stage = rollout.stages[transition.to_stage]
        details = {
            "test_id": rollout.test_id,
            "from_stage": None if transition.from_stage is None else transition.from_stage + 1,
            "to_stage": transition.to_stage + 1,
            "stages": len(rollout.stages),
            "koi": stage.koi,
            "hold_seconds": stage.hold_seconds,
            "status": steps.apply(rollout, transition).status.value,
        }
        kind = _EVENT_KINDS[transition.kind]
        return new_event(self._clock, rollout.id, kind, transition.actor, transition.reason, details)

    def _estop_reason(self) -> str | None:
        estop = self._estop.get()
        return (estop.reason or "no reason given") if estop.active else None

    def _test_or_none(self, test_id: str) -> LoadTest | None:
        try:
            return self._tests.get(test_id)
        except NotFoundError:
            return None


def _view(test: LoadTest | None) -> steps.LoadTestView:
    if test is None:
        return steps.LoadTestView(status=None)
    return steps.LoadTestView(status=test.status, koi=test.koi, stopped_reason=test.stopped_reason)
