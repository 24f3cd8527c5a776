"""Pure rollout decisions: what a tick does to a rollout, and which manual commands are possible.

Nothing here reads a clock or the store; the driver (:mod:`koipond.services.rollouts`) gathers the facts.

**Guard health over a hold.** A stage is *held* when all of these are true at a tick:

1. ``now >= stage_started_at + hold`` (the hold starts when the stage starts, or when a person resumes);
2. the guard did not trip on the test since the hold started: no event in the test's history by the guard
   (it stops or sheds; both count) at or after ``stage_started_at``. History is the record, so a trip
   between two ticks is never missed, even if a person resumed the test before the next tick;
3. every enabled guard query whose scope covers the test has a latest evaluation that is ``healthy`` or
   ``no_data`` (a query whose no-data policy is ``stop`` trips the guard instead, see 2); ``breaching`` and
   ``error`` hold the stage back (the guard cannot vouch for it), and
4. that evaluation was made at or after the hold's end: the guard has looked at the whole hold. A guard
   that stopped running therefore holds every rollout back instead of letting it advance blind.

A ``breaching`` evaluation in the middle of the hold that recovers without a trip does not restart the hold:
the guard's own rules decide what a breach is, and a sustained breach trips it (and pauses the rollout).
With no enabled query covering the test, 3 and 4 hold trivially and the rollout advances on time.

**Pauses** (checked first, in this order): the emergency stop is active, the guard tripped, the test was
stopped. A completed or deleted test aborts the rollout. A paused rollout moves only by a person's
``resume`` (or ``abort``): resuming restarts the current stage's hold, so a stage is never counted as held
across a pause.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from koipond.errors import BadRequestError, ConflictError, EmergencyStopActiveError
from koipond.models.durations import format_duration
from koipond.models.guard import Evaluation, GuardQuery, Outcome
from koipond.models.history import GUARD_ACTOR, HistoryEvent
from koipond.models.rollouts import (
    MAX_HOLD_SECONDS,
    MAX_STAGES,
    MIN_HOLD_SECONDS,
    Rollout,
    RolloutStatus,
    Stage,
    Transition,
    TransitionKind,
)
from koipond.models.tests import LoadTestStatus

TICK_ACTOR = "rollouts"
_HEALTHY = {Outcome.HEALTHY, Outcome.NO_DATA}


@dataclass(frozen=True)
class GuardView:
    """What the guard says about one test, as far as a rollout cares.

    Attributes:
        tripped: why the guard stopped or shed the test since the hold started; None if it did not.
        unhealthy: why a covering query's latest evaluation is not healthy now; None if all are.
        oldest_evaluation: the oldest latest-evaluation time among covering queries (None if one has none).
        watching: how many enabled queries cover the test.
    """

    tripped: str | None = None
    unhealthy: str | None = None
    oldest_evaluation: datetime | None = None
    watching: int = 0

    def vouches_since(self, since: datetime) -> bool:
        """Healthy now, and every covering query was evaluated at or after ``since``."""
        if self.unhealthy is not None:
            return False
        return self.watching == 0 or (self.oldest_evaluation is not None and self.oldest_evaluation >= since)


@dataclass(frozen=True)
class LoadTestView:
    """The rollout's test as it is now; ``status`` None means the test no longer exists."""

    status: LoadTestStatus | None
    koi: int = 0
    stopped_reason: str | None = None


def guard_view(
    test_tags: tuple[str, ...],
    queries: Iterable[GuardQuery],
    last: dict[str, Evaluation],
    events_since: Sequence[HistoryEvent],
) -> GuardView:
    """Summarise the guard for one test from its queries, their last evaluations and the test's recent history.

    Args:
        test_tags: the test's tags (query scopes select tests by tag).
        queries: all guard queries; disabled ones and those not covering the test are ignored.
        last: query label -> its latest evaluation.
        events_since: the test's history events since the hold started.
    """
    covering = [q for q in queries if q.enabled and q.scope.covers(test_tags)]
    tripped = next((e.reason or e.kind.value for e in events_since if e.actor == GUARD_ACTOR), None)
    unhealthy = None
    times: list[datetime] = []
    for query in sorted(covering, key=lambda q: q.label):
        evaluation = last.get(query.label)
        if evaluation is None:
            unhealthy = unhealthy or f"guard query {query.label} has not been evaluated yet"
            continue
        times.append(evaluation.at)
        if evaluation.outcome not in _HEALTHY and unhealthy is None:
            unhealthy = f"guard query {query.label} is {evaluation.outcome.value}: {evaluation.detail or ''}".strip()
    oldest = min(times) if times and len(times) == len(covering) else None
    return GuardView(tripped=tripped, unhealthy=unhealthy, oldest_evaluation=oldest, watching=len(covering))


def build_plan(stages: Sequence[tuple[int, int]], max_koi: int) -> tuple[Stage, ...]:
    """Check a plan of ``(koi, hold_seconds)`` stages and return it as stages.

    Stages must strictly increase in koi: a rollout is a ramp (a decrease is a plain ``test scale``), and so
    the rollout never asks for more koi than the stage it is on.

    Raises:
        BadRequestError: naming the first problem and the stage (counted from 1).
    """
    if not 1 <= len(stages) <= MAX_STAGES:
        raise BadRequestError(f"a plan has 1 to {MAX_STAGES} stages, got {len(stages)}", {"stages": len(stages)})
    previous = 0
    for number, (koi, hold) in enumerate(stages, start=1):
        where = {"stage": number, "koi": koi, "hold_seconds": hold}
        if not 1 <= koi <= max_koi:
            raise BadRequestError(f"stage {number}: koi must be between 1 and {max_koi:,}, got {koi:,}", where)
        if koi <= previous:
            raise BadRequestError(
                f"stage {number}: koi must exceed the previous stage's {previous:,} (stages ramp up), got {koi:,}",
                where,
            )
        if not MIN_HOLD_SECONDS <= hold <= MAX_HOLD_SECONDS:
            raise BadRequestError(f"stage {number}: hold must be between 1s and 90d, got {hold}s", where)
        previous = koi
    return tuple(Stage(koi=koi, hold_seconds=hold) for koi, hold in stages)


def decide(
    rollout: Rollout, now: datetime, guard: GuardView, estop_reason: str | None, test: LoadTestView
) -> Transition | None:
    """The tick's transition for ``rollout`` at ``now``, or None to leave it as it is (rules in the module doc).

    Args:
        estop_reason: the emergency stop's reason while it is active; None when it is not.
    """
    if rollout.status is not RolloutStatus.HOLDING:
        return None
    pause = _pause_reason(guard, estop_reason, test)
    if pause is not None:
        return _transition(rollout, TransitionKind.PAUSED, TICK_ACTOR, pause, now)
    if test.status is not LoadTestStatus.RUNNING:
        why = "the test no longer exists" if test.status is None else f"the test is {test.status.value}"
        return _transition(rollout, TransitionKind.ABORTED, TICK_ACTOR, why, now)
    if now < rollout.hold_ends_at or not guard.vouches_since(rollout.hold_ends_at):
        return None
    watched = (
        f"{guard.watching} guard quer{'y' if guard.watching == 1 else 'ies'} healthy"
        if guard.watching
        else "no guard query covers the test"
    )
    reason = f"stage {rollout.stage_label()} held for {format_duration(rollout.stage.hold_seconds)} ({watched})"
    return _held(rollout, TICK_ACTOR, reason, now)


def _pause_reason(guard: GuardView, estop_reason: str | None, test: LoadTestView) -> str | None:
    if estop_reason is not None:
        return f"emergency stop is active: {estop_reason}"
    if guard.tripped is not None:
        return f"guard tripped: {guard.tripped}"
    if test.status is LoadTestStatus.STOPPED:
        return f"the test was stopped: {test.stopped_reason or 'no reason given'}"
    return None


def advance(rollout: Rollout, actor: str, reason: str, now: datetime) -> Transition:
    """A person moves the rollout to its next stage now (completing it on the last stage).

    Raises:
        ConflictError: the rollout is paused (resume it first), completed or aborted.
    """
    _require(rollout, RolloutStatus.HOLDING, "advance")
    return _held(rollout, actor, reason, now)


def pause(rollout: Rollout, actor: str, reason: str, now: datetime) -> Transition:
    """A person holds the rollout where it is.

    Raises:
        ConflictError: it is paused already, completed or aborted.
    """
    _require(rollout, RolloutStatus.HOLDING, "pause")
    return _transition(rollout, TransitionKind.PAUSED, actor, reason, now)


def resume(
    rollout: Rollout, actor: str, reason: str, now: datetime, test: LoadTestView, estop_reason: str | None
) -> Transition:
    """A person lets a paused rollout go on: the current stage's hold starts over (and the test is set to its koi).

    Raises:
        ConflictError: the rollout is not paused, or its test is not running.
        EmergencyStopActiveError: the emergency stop is active.
    """
    _require(rollout, RolloutStatus.PAUSED, "resume")
    if estop_reason is not None:
        raise EmergencyStopActiveError(
            f"the emergency stop is active ({estop_reason}); rollouts cannot resume until it is lifted"
        )
    if test.status is not LoadTestStatus.RUNNING:
        state = "gone" if test.status is None else test.status.value
        raise ConflictError(
            f"test {rollout.test_id!r} is {state}; resume the test first (koipond test resume {rollout.test_id})",
            {"test_id": rollout.test_id},
        )
    koi = rollout.stage.koi if test.koi != rollout.stage.koi else None
    return _transition(rollout, TransitionKind.RESUMED, actor, reason, now, to_stage=rollout.current, koi=koi)


def abort(rollout: Rollout, actor: str, reason: str, now: datetime) -> Transition:
    """A person gives the rollout up; the test keeps running at its current koi.

    Raises:
        ConflictError: it is completed or aborted already.
    """
    if rollout.status.finished:
        raise _finished(rollout, "abort")
    return _transition(rollout, TransitionKind.ABORTED, actor, reason, now)


def apply(rollout: Rollout, transition: Transition) -> Rollout:
    """The rollout after ``transition`` (its version is the store's business)."""
    at = transition.at
    update: dict[str, object] = {"updated_at": at}
    match transition.kind:
        case TransitionKind.STARTED | TransitionKind.ADVANCED | TransitionKind.RESUMED:
            update |= {
                "current": transition.to_stage,
                "status": RolloutStatus.HOLDING,
                "stage_started_at": at,
                "paused_reason": None,
            }
        case TransitionKind.PAUSED:
            update |= {"status": RolloutStatus.PAUSED, "paused_reason": transition.reason}
        case TransitionKind.COMPLETED:
            update |= {"status": RolloutStatus.COMPLETED, "paused_reason": None}
        case TransitionKind.ABORTED:
            update |= {"status": RolloutStatus.ABORTED}
    return rollout.model_copy(update=update)


def _held(rollout: Rollout, actor: str, reason: str, now: datetime) -> Transition:
    if rollout.on_last_stage:
        return _transition(rollout, TransitionKind.COMPLETED, actor, reason, now)
    following = rollout.current + 1
    koi = rollout.stages[following].koi
    return _transition(rollout, TransitionKind.ADVANCED, actor, reason, now, to_stage=following, koi=koi)


def _transition(
    rollout: Rollout,
    kind: TransitionKind,
    actor: str,
    reason: str,
    now: datetime,
    to_stage: int | None = None,
    koi: int | None = None,
) -> Transition:
    return Transition(
        kind=kind,
        actor=actor,
        reason=reason,
        at=now,
        from_stage=rollout.current,
        to_stage=rollout.current if to_stage is None else to_stage,
        koi=koi,
    )


def _require(rollout: Rollout, status: RolloutStatus, verb: str) -> None:
    if rollout.status.finished:
        raise _finished(rollout, verb)
    if rollout.status is not status:
        hint = "resume it first" if rollout.status is RolloutStatus.PAUSED else "it is not paused"
        raise ConflictError(
            f"cannot {verb} rollout {rollout.id!r}: it is {rollout.status.value}; {hint}",
            {"rollout_id": rollout.id, "status": rollout.status.value},
        )


def _finished(rollout: Rollout, verb: str) -> ConflictError:
    return ConflictError(
        f"cannot {verb} rollout {rollout.id!r}: it is {rollout.status.value} already",
        {"rollout_id": rollout.id, "status": rollout.status.value},
    )
