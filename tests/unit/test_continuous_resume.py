"""The pure resume decision of continuous tests: only guard stops, only after the cool-down, never in an estop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from koipond.models.estop import EmergencyStop
from koipond.models.history import EventKind, HistoryEvent
from koipond.models.tests import BehaviorRef, LoadTest, LoadTestStatus, ResumePolicy
from koipond.services.continuous import resume_decision
from koipond.services.rollout_steps import GuardView

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
AUTO = ResumePolicy(mode="auto", cool_down_seconds=600)
OFF = EmergencyStop()


def loadtest(policy: ResumePolicy = AUTO, status: LoadTestStatus = LoadTestStatus.STOPPED, **extra: object) -> LoadTest:
    return LoadTest(
        id="lt-1", name="always on", target="http://t", behavior=BehaviorRef(name="b", version=1), workspace="w",
        koi=10, status=status, resume_policy=policy, created_at=T0, created_by="alice", updated_at=T0, **extra,
    )  # fmt: skip


def stop(actor: str = "guard", seconds: float = 0) -> HistoryEvent:
    return HistoryEvent(
        id="e1", subject="lt-1", kind=EventKind.TEST_STOPPED, actor=actor, reason="guard p99: breach",
        at=T0 + timedelta(seconds=seconds),
    )  # fmt: skip


def after(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_guard_stop_resumes_once_cooled_down_and_healthy() -> None:
    decision = resume_decision(loadtest(), stop(), after(600), GuardView(), OFF)
    assert decision.resume
    assert "cool-down of 10m passed" in decision.why
    assert "guard p99: breach" in decision.why


def test_not_during_the_cool_down() -> None:
    assert not resume_decision(loadtest(), stop(), after(599), GuardView(), OFF).resume


def test_not_while_the_guard_is_unhealthy_or_has_not_looked_since() -> None:
    unhealthy = GuardView(unhealthy="p99 is breaching", oldest_evaluation=after(700), watching=1)
    assert resume_decision(loadtest(), stop(), after(700), unhealthy, OFF).why == "p99 is breaching"
    stale = GuardView(oldest_evaluation=after(599), watching=1)
    assert not resume_decision(loadtest(), stop(), after(700), stale, OFF).resume
    fresh = GuardView(oldest_evaluation=after(600), watching=1)
    assert resume_decision(loadtest(), stop(), after(700), fresh, OFF).resume


def test_a_stop_pulled_after_the_guard_keeps_the_test_stopped_after_it_is_lifted() -> None:
    lifted = EmergencyStop(active=False, activated_at=after(10), lifted_at=after(20))
    assert not resume_decision(loadtest(), stop(), after(3600), GuardView(), lifted).resume
    earlier = EmergencyStop(active=False, activated_at=T0 - timedelta(hours=1), lifted_at=T0 - timedelta(minutes=1))
    assert resume_decision(loadtest(), stop(), after(3600), GuardView(), earlier).resume


@given(
    actor=st.sampled_from(["guard", "alice", "deploy-bot", "auto-resume"]),
    mode=st.sampled_from(["manual", "auto"]),
    status=st.sampled_from(list(LoadTestStatus)),
    estop_active=st.booleans(),
    timed=st.booleans(),
    waited=st.integers(min_value=0, max_value=10_000),
    cool_down=st.integers(min_value=1, max_value=5000),
    unhealthy=st.sampled_from([None, "breaching"]),
    has_stop=st.booleans(),
)
def test_the_decision_never_breaks_its_rules(
    actor: str,
    mode: str,
    status: LoadTestStatus,
    estop_active: bool,
    timed: bool,
    waited: int,
    cool_down: int,
    unhealthy: str | None,
    has_stop: bool,
) -> None:
    policy = ResumePolicy(mode=mode, cool_down_seconds=cool_down)  # type: ignore[arg-type]
    subject = loadtest(policy, status, duration_seconds=3600 if timed else None)
    estop = EmergencyStop(active=estop_active, activated_at=T0 - timedelta(days=1))
    decision = resume_decision(
        subject, stop(actor) if has_stop else None, after(waited), GuardView(unhealthy=unhealthy), estop
    )
    if decision.resume:
        assert not estop_active, "resumed during an emergency stop"
        assert has_stop, "resumed without knowing who stopped it"
        assert actor == "guard", "resumed a stop that was not the guard's"
        assert mode == "auto", "resumed under the manual policy"
        assert not timed, "resumed a test that has an end"
        assert status is LoadTestStatus.STOPPED
        assert waited >= cool_down, "resumed during the cool-down"
        assert unhealthy is None, "resumed while the guard was unhealthy"
    else:
        assert decision.why
