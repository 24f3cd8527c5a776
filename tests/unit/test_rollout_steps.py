"""Pure rollout decisions: tick rules, manual commands, plan checks, and properties over random histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from koipond.errors import BadRequestError, ConflictError, EmergencyStopActiveError
from koipond.models.guard import Evaluation, GuardQuery, Outcome, Scope
from koipond.models.history import EventKind, HistoryEvent
from koipond.models.rollouts import Rollout, RolloutStatus, Stage, TransitionKind
from koipond.models.tests import LoadTestStatus
from koipond.services import rollout_steps as steps
from koipond.services.rollout_steps import GuardView, LoadTestView

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
RUNNING = LoadTestView(status=LoadTestStatus.RUNNING, koi=50)
HEALTHY = GuardView()


def rollout(*stages: tuple[int, int], current: int = 0, status: RolloutStatus = RolloutStatus.HOLDING) -> Rollout:
    return Rollout(
        id="ro-1", test_id="lt-1", stages=tuple(Stage(koi=k, hold_seconds=h) for k, h in stages), current=current,
        status=status, stage_started_at=T0, created_at=T0, created_by="alice", updated_at=T0,
    )  # fmt: skip


PLAN = ((50, 10), (100, 10), (150, 10))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_nothing_happens_before_the_hold_ends() -> None:
    assert steps.decide(rollout(*PLAN), at(9.999), HEALTHY, None, RUNNING) is None


def test_a_held_stage_advances_to_the_next_with_its_koi() -> None:
    transition = steps.decide(rollout(*PLAN), at(10), HEALTHY, None, RUNNING)
    assert transition is not None
    assert (transition.kind, transition.from_stage, transition.to_stage, transition.koi) == (
        TransitionKind.ADVANCED, 0, 1, 100,
    )  # fmt: skip
    assert "stage 1/3 held for 10s" in transition.reason


def test_the_last_stage_held_completes() -> None:
    transition = steps.decide(rollout(*PLAN, current=2), at(10), HEALTHY, None, RUNNING)
    assert transition is not None
    assert (transition.kind, transition.koi) == (TransitionKind.COMPLETED, None)


@pytest.mark.parametrize(
    ("guard", "estop", "test", "starts"),
    [
        (HEALTHY, "drill", RUNNING, "emergency stop is active: drill"),
        (GuardView(tripped="guard p99: breach"), None, RUNNING, "guard tripped: guard p99: breach"),
        (HEALTHY, None, LoadTestView(LoadTestStatus.STOPPED, 50, "bob: lunch"), "the test was stopped: bob: lunch"),
    ],
)
def test_trouble_pauses_even_before_the_hold_ends(
    guard: GuardView, estop: str | None, test: LoadTestView, starts: str
) -> None:
    transition = steps.decide(rollout(*PLAN), at(1), guard, estop, test)
    assert transition is not None
    assert transition.kind is TransitionKind.PAUSED
    assert transition.reason.startswith(starts)


def test_a_completed_or_vanished_test_aborts_the_rollout() -> None:
    for test in (LoadTestView(LoadTestStatus.COMPLETED), LoadTestView(None)):
        transition = steps.decide(rollout(*PLAN), at(1), HEALTHY, None, test)
        assert transition is not None
        assert transition.kind is TransitionKind.ABORTED


def test_an_unhealthy_or_stale_guard_holds_the_stage_back() -> None:
    unhealthy = GuardView(unhealthy="p99 is breaching", oldest_evaluation=at(20), watching=1)
    stale = GuardView(oldest_evaluation=at(9), watching=1)
    fresh = GuardView(oldest_evaluation=at(10), watching=1)
    assert steps.decide(rollout(*PLAN), at(30), unhealthy, None, RUNNING) is None
    assert steps.decide(rollout(*PLAN), at(30), stale, None, RUNNING) is None
    assert steps.decide(rollout(*PLAN), at(30), fresh, None, RUNNING) is not None


def evaluation(label: str, outcome: Outcome, seconds: float) -> Evaluation:
    return Evaluation(label=label, at=at(seconds), outcome=outcome)


def query(label: str, **extra: Any) -> GuardQuery:
    return GuardQuery(label=label, query="up", threshold=1, comparator="LessThan", **extra)


def test_the_guard_view_counts_only_enabled_queries_covering_the_test() -> None:
    queries = [
        query("a"),
        query("b", scope=Scope(all_tests=False, tags=["checkout"])),
        query("c", enabled=False),
    ]
    last = {"a": evaluation("a", Outcome.NO_DATA, 5), "b": evaluation("b", Outcome.BREACH, 3)}
    view = steps.guard_view(("search",), queries, last, [])
    assert (view.watching, view.unhealthy, view.oldest_evaluation) == (1, None, at(5))
    covered = steps.guard_view(("checkout",), queries, last, [])
    assert covered.watching == 2
    assert covered.unhealthy is not None
    assert covered.unhealthy.startswith("guard query b is breach")
    never = steps.guard_view((), [query("d")], {}, [])
    assert never.oldest_evaluation is None
    assert not never.vouches_since(T0)


def test_the_guard_view_sees_a_trip_in_the_tests_history() -> None:
    stop = HistoryEvent(id="e1", subject="lt-1", kind=EventKind.TEST_STOPPED, actor="guard", reason="guard a: x", at=T0)
    scale = stop.model_copy(update={"actor": "alice", "kind": EventKind.TEST_SCALED, "reason": "more"})
    assert steps.guard_view((), [], {}, [scale, stop]).tripped == "guard a: x"
    assert steps.guard_view((), [], {}, [scale]).tripped is None


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        ([], "1 to 20 stages"),
        ([(10, 1)] * 21, "1 to 20 stages"),
        ([(0, 1)], "stage 1: koi must be between 1 and 1,000"),
        ([(1001, 1)], "stage 1: koi must be between"),
        ([(10, 1), (10, 1)], "stage 2: koi must exceed the previous stage's 10"),
        ([(10, 0)], "stage 1: hold must be between 1s and 90d"),
        ([(10, 90 * 86400 + 1)], "hold must be between"),
    ],
)
def test_bad_plans_name_the_problem(plan: list[tuple[int, int]], words: str) -> None:
    with pytest.raises(BadRequestError, match=words):
        steps.build_plan(plan, max_koi=1000)


def test_manual_commands_refuse_impossible_moves_with_a_hint() -> None:
    paused = rollout(*PLAN, status=RolloutStatus.PAUSED)
    with pytest.raises(ConflictError, match="resume it first"):
        steps.advance(paused, "alice", "go", T0)
    with pytest.raises(ConflictError, match="not paused"):
        steps.resume(rollout(*PLAN), "alice", "go", T0, RUNNING, None)
    with pytest.raises(EmergencyStopActiveError):
        steps.resume(paused, "alice", "go", T0, RUNNING, "drill")
    with pytest.raises(ConflictError, match="resume the test first"):
        steps.resume(paused, "alice", "go", T0, LoadTestView(LoadTestStatus.STOPPED), None)
    for done in (RolloutStatus.COMPLETED, RolloutStatus.ABORTED):
        finished = rollout(*PLAN, status=done)
        for command in (steps.advance, steps.pause, steps.abort):
            with pytest.raises(ConflictError, match="already"):
                command(finished, "alice", "go", T0)


def test_resuming_restarts_the_hold_and_restores_the_stage_koi() -> None:
    paused = rollout(*PLAN, current=1, status=RolloutStatus.PAUSED)
    transition = steps.resume(paused, "alice", "fixed", at(100), LoadTestView(LoadTestStatus.RUNNING, koi=70), None)
    assert transition.koi == 100
    after = steps.apply(paused, transition)
    assert (after.status, after.stage_started_at, after.paused_reason) == (RolloutStatus.HOLDING, at(100), None)


# Random histories: ticks with random guard/estop/test facts, interleaved with random manual commands.
facts = st.tuples(
    st.floats(min_value=0, max_value=30),  # seconds since the previous step
    st.sampled_from([None, "guard x: breach"]),  # tripped
    st.sampled_from([None, "x is breaching"]),  # unhealthy
    st.sampled_from([None, "drill"]),  # estop
    st.sampled_from([LoadTestStatus.RUNNING] * 4 + [LoadTestStatus.STOPPED, LoadTestStatus.COMPLETED]),
    st.sampled_from(["tick", "tick", "tick", "advance", "pause", "resume", "abort"]),
)
plans = st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=6).map(
    lambda holds: tuple((100 * (i + 1), hold) for i, hold in enumerate(holds))
)


def one_step(current: Rollout, now: datetime, fact: tuple[Any, ...]) -> Any:
    _, tripped, unhealthy, estop, status, command = fact
    test = LoadTestView(status=status, koi=current.stage.koi)
    if command == "tick":
        return steps.decide(current, now, GuardView(tripped=tripped, unhealthy=unhealthy), estop, test)
    try:
        if command == "resume":
            return steps.resume(current, "alice", "resume", now, test, estop)
        return getattr(steps, command)(current, "alice", command, now)
    except ConflictError:
        return None


@settings(max_examples=300, deadline=None)
@given(plans, st.lists(facts, max_size=60))
def test_random_histories_keep_the_rollout_invariants(plan: tuple[tuple[int, int], ...], history: list[Any]) -> None:
    current = rollout(*plan)
    now = T0
    for fact in history:
        now += timedelta(seconds=fact[0])
        transition = one_step(current, now, fact)
        if transition is None:
            continue
        assert transition.reason, "every transition has a reason"
        assert not current.status.finished, "a finished rollout moved"
        if current.status is RolloutStatus.PAUSED:
            assert transition.kind in {TransitionKind.RESUMED, TransitionKind.ABORTED}, "paused, then moved on"
        if transition.kind is TransitionKind.ADVANCED:
            assert transition.to_stage == current.current + 1, "a stage was skipped"
            if transition.actor == steps.TICK_ACTOR:
                assert now >= current.hold_ends_at, "advanced before the hold passed"
                assert (fact[1], fact[2], fact[3]) == (None, None, None), "advanced with trouble in sight"
        after = steps.apply(current, transition)
        if transition.koi is not None:
            assert transition.koi == after.stage.koi, "the test was set to other koi than its stage's"
        assert after.current in {current.current, current.current + 1}
        current = after
