"""Behavior scheduling: steady-state Poisson schedules and formation plans, as properties and examples."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from koipond.behavior_files import load_behavior_file
from koipond.models.behavior import (
    Action,
    BehaviorDocument,
    Formation,
    FormationStart,
    FormationStep,
    KoiSelector,
    KoiShare,
)
from koipond.services.scheduling import (
    ScheduledAction,
    SteadySchedule,
    formation_plan,
    koi_rng,
    next_firing,
    startup_delay,
    step_windows,
    takes_part,
)

BEHAVIORS = Path(__file__).resolve().parents[2] / "behaviors"
PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)
SLOW_PROPERTY_SETTINGS = settings(max_examples=15, deadline=None)
SEED_PARTS = ("test-1",)
# Floats near 4e9 are spaced ~5e-7 apart: comparisons of reconstructed offsets allow for that.
TIME_TOLERANCE = 1e-5

unix_times = st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)
test_ids = st.text(min_size=1, max_size=20)
koi_indexes = st.integers(min_value=0, max_value=1_000_000)


# --- strategies and helpers ------------------------------------------------------------------------


def make_action(rate_per_hour: float, weight: float = 1.0) -> Action:
    return Action(method="GET", path="/api/x", rate_per_hour=rate_per_hour, weight=weight)


@st.composite
def documents(draw: st.DrawFn, min_rate: float = 0.0) -> BehaviorDocument:
    """Documents of 1-6 actions, some of them at rate 0 (by rate or by weight)."""
    count = draw(st.integers(min_value=1, max_value=6))
    rates = st.one_of(st.just(0.0), st.floats(min_value=max(min_rate, 0.01), max_value=3600))
    weights = st.sampled_from([0.0, 0.5, 1.0, 2.0])
    actions = {f"a{i}": make_action(draw(rates), draw(weights)) for i in range(count)}
    return BehaviorDocument(description="generated", actions=actions)


@st.composite
def formations(draw: st.DrawFn) -> Formation:
    """Formations of 1-6 steps with every selector, ``after`` links, repeats and spreads."""
    count = draw(st.integers(min_value=1, max_value=6))
    selectors: st.SearchStrategy[KoiSelector] = st.one_of(
        st.sampled_from(["all", "first"]), st.builds(KoiShare, share=st.floats(min_value=0.05, max_value=1))
    )
    steps = []
    for i in range(count):
        after = draw(st.none() | st.sampled_from([f"s{j}" for j in range(i)])) if i else None
        steps.append(
            FormationStep(
                name=f"s{i}",
                action=f"act{i}",
                koi=draw(selectors),
                within_seconds=draw(st.sampled_from([0.0, 0.5]) | st.floats(min_value=0, max_value=600)),
                after=after,
                repeat=draw(st.integers(min_value=1, max_value=5)),
            )
        )
    return Formation(
        start=FormationStart(every="1d"),
        spread_seconds=draw(st.sampled_from([0.0]) | st.floats(min_value=0, max_value=600)),
        share=draw(st.floats(min_value=0.05, max_value=1)),
        steps=steps,
    )


def single_step(start: FormationStart, share: float = 1.0) -> Formation:
    return Formation(start=start, share=share, steps=[FormationStep(name="s", action="a", within_seconds=0)])


def run_for(schedule: SteadySchedule, start: float, horizon: float) -> list[ScheduledAction]:
    events = []
    event = schedule.first_after(start)
    while event is not None and event.at < start + horizon:
        events.append(event)
        event = schedule.next_after(event.at)
    return events


def predecessor(formation: Formation, index: int) -> str | None:
    step = formation.steps[index]
    if step.after is not None:
        return step.after
    return formation.steps[index - 1].name if index else None


def by_step(plan: list[ScheduledAction]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    for scheduled in plan:
        assert scheduled.step is not None
        times.setdefault(scheduled.step, []).append(scheduled.at)
    return times


def within_six_sigma(observed: int, expected: float) -> bool:
    """Poisson (or binomial, whose variance is smaller) count against a bound it never crosses by chance."""
    return abs(observed - expected) <= 6 * math.sqrt(expected) + 1


# --- stable randomness -----------------------------------------------------------------------------


@given(test_id=test_ids, koi_index=koi_indexes, salt=st.text(max_size=10))
@PROPERTY_SETTINGS
def test_koi_rng_gives_the_same_stream_for_the_same_koi(test_id: str, koi_index: int, salt: str) -> None:
    first, second = koi_rng(test_id, koi_index, salt), koi_rng(test_id, koi_index, salt)
    assert [first.random() for _ in range(5)] == [second.random() for _ in range(5)]


def test_koi_rng_streams_differ_between_koi_tests_and_salts() -> None:
    firsts = {koi_rng(f"test-{t}", koi, salt).random() for t in range(3) for koi in range(100) for salt in ("", "x")}
    assert len(firsts) == 3 * 100 * 2


def test_koi_rng_is_stable_across_processes() -> None:
    # Pinned: a change here reshuffles every running test's schedules, so it must be deliberate.
    assert koi_rng("test-1", 7).getrandbits(64) == 13761215393309471214
    assert koi_rng("test-1", 7, "steady").getrandbits(64) == 17230935140999079079


@given(seed=st.integers(min_value=0, max_value=2**32), spread=st.floats(min_value=0, max_value=1e6))
@PROPERTY_SETTINGS
def test_startup_delay_lies_within_zero_and_spread(seed: int, spread: float) -> None:
    rng = koi_rng("t", seed)
    for _ in range(20):
        delay = startup_delay(rng, spread)
        assert 0 <= delay < spread or delay == spread == 0


@pytest.mark.parametrize("spread", [-1.0, math.inf, math.nan])
def test_startup_delay_rejects_negative_or_non_finite_spread(spread: float) -> None:
    with pytest.raises(ValueError, match="spread_seconds"):
        startup_delay(koi_rng("t", 0), spread)


# --- steady state ----------------------------------------------------------------------------------


@given(document=documents(), seed=st.integers(min_value=0, max_value=2**32), start=unix_times)
@PROPERTY_SETTINGS
def test_steady_schedule_with_the_same_seed_repeats_the_same_sequence(
    document: BehaviorDocument, seed: int, start: float
) -> None:
    one = SteadySchedule(document, koi_rng("t", seed))
    other = SteadySchedule(document, koi_rng("t", seed))
    assert run_for(one, start, 600) == run_for(other, start, 600)


@given(document=documents(), seed=st.integers(min_value=0, max_value=2**32), start=unix_times)
@PROPERTY_SETTINGS
def test_steady_schedule_times_strictly_increase(document: BehaviorDocument, seed: int, start: float) -> None:
    schedule = SteadySchedule(document, koi_rng("t", seed))
    times = [start] + [event.at for event in run_for(schedule, start, 600)]
    assert all(a < b for a, b in pairwise(times))


@given(document=documents(), seed=st.integers(min_value=0, max_value=2**32))
@PROPERTY_SETTINGS
def test_steady_schedule_never_schedules_rate_zero_actions(document: BehaviorDocument, seed: int) -> None:
    schedule = SteadySchedule(document, koi_rng("t", seed))
    silent = {name for name, action in document.actions.items() if action.effective_rate_per_hour == 0}
    assert not silent & {event.action for event in run_for(schedule, 0.0, 3600)}


def test_steady_schedule_is_none_when_every_rate_is_zero() -> None:
    document = BehaviorDocument(description="d", actions={"a": make_action(0), "b": make_action(5, weight=0)})
    schedule = SteadySchedule(document, koi_rng("t", 0))
    assert schedule.rate_per_second == 0
    assert schedule.first_after(100.0) is None
    assert schedule.next_after(100.0) is None


@given(document=documents(min_rate=1.0), seed=st.integers(min_value=0, max_value=2**32))
@SLOW_PROPERTY_SETTINGS
def test_steady_schedule_counts_match_rates_over_a_long_horizon(document: BehaviorDocument, seed: int) -> None:
    schedule = SteadySchedule(document, koi_rng("t", seed))
    if schedule.rate_per_second == 0:
        return
    horizon = 20_000 / schedule.rate_per_second
    counts = Counter(event.action for event in run_for(schedule, 1.7e9, horizon))
    for name, action in document.actions.items():
        expected = action.effective_rate_per_hour / 3600 * horizon
        assert within_six_sigma(counts[name], expected), (name, counts[name], expected)


def test_average_user_performs_each_action_at_its_rate() -> None:
    document = load_behavior_file(BEHAVIORS / "average_user.yaml")
    schedule = SteadySchedule(document, koi_rng("test-1", 42))
    hours = 5_000
    counts = Counter(event.action for event in run_for(schedule, 0.0, hours * 3600.0))
    assert schedule.rate_per_second == pytest.approx(document.steady_rate_per_hour / 3600)
    for name, action in document.actions.items():
        assert within_six_sigma(counts[name], action.rate_per_hour * hours), name


def test_formation_only_actions_of_org_wide_announcement_never_run_in_steady_state() -> None:
    document = load_behavior_file(BEHAVIORS / "org_wide_announcement.yaml")
    seen = {event.action for event in run_for(SteadySchedule(document, koi_rng("t", 1)), 0.0, 500 * 3600.0)}
    assert seen == {"auth_test", "post_message", "read_history", "add_reaction", "user_info"}


# --- formations: firing ----------------------------------------------------------------------------


@given(after=unix_times, every=st.sampled_from(["1m", "90s", "15m", "1h", "1h30m", "1d"]))
@PROPERTY_SETTINGS
def test_next_firing_is_the_first_epoch_aligned_time_strictly_after(after: float, every: str) -> None:
    formation = single_step(FormationStart(every=every))
    interval = formation.start.interval
    assert interval is not None
    fire = next_firing(formation, after)
    assert fire is not None
    assert after < fire <= after + interval.total_seconds() + 1e-6
    assert fire % interval.total_seconds() == 0
    assert next_firing(formation, fire) == fire + interval.total_seconds()


def test_next_firing_of_a_one_off_start_is_none_once_passed() -> None:
    at = datetime(2030, 6, 2, 9, tzinfo=UTC)
    formation = single_step(FormationStart(at=at))
    assert next_firing(formation, at.timestamp() - 0.5) == at.timestamp()
    assert next_firing(formation, at.timestamp()) is None


def test_next_firing_daily_utc_matches_the_model() -> None:
    formation = single_step(FormationStart(daily_utc="16:00"))
    moment = datetime(2030, 6, 2, 17, 30, tzinfo=UTC)
    assert next_firing(formation, moment.timestamp()) == (moment + timedelta(hours=22, minutes=30)).timestamp()


# --- formations: plans -----------------------------------------------------------------------------


@given(formation=formations(), koi_index=koi_indexes, fire_at=unix_times)
@PROPERTY_SETTINGS
def test_formation_plan_is_deterministic(formation: Formation, koi_index: int, fire_at: float) -> None:
    plan = formation_plan("f", formation, koi_index, SEED_PARTS, fire_at)
    assert plan == formation_plan("f", formation, koi_index, SEED_PARTS, fire_at)


@given(formation=formations(), koi_index=koi_indexes, fire_at=unix_times)
@PROPERTY_SETTINGS
def test_formation_actions_lie_in_their_step_windows_on_one_shifted_timeline(
    formation: Formation, koi_index: int, fire_at: float
) -> None:
    plan = formation_plan("f", formation, koi_index, SEED_PARTS, fire_at)
    windows = step_windows(formation)
    assert [s.at for s in plan] == sorted(s.at for s in plan)
    assert all(s.at >= fire_at and s.formation == "f" for s in plan)
    # One offset in [0, spread] must place every action inside its own step's window.
    lowest, highest = 0.0, formation.spread_seconds
    for scheduled in plan:
        assert scheduled.step is not None
        begin, end = windows[scheduled.step]
        lowest = max(lowest, scheduled.at - fire_at - end)
        highest = min(highest, scheduled.at - fire_at - begin)
    assert lowest <= highest + TIME_TOLERANCE


@given(formation=formations(), koi_index=koi_indexes, fire_at=unix_times)
@PROPERTY_SETTINGS
def test_formation_steps_start_after_their_after_step_ends(
    formation: Formation, koi_index: int, fire_at: float
) -> None:
    times = by_step(formation_plan("f", formation, koi_index, SEED_PARTS, fire_at))
    for index, step in enumerate(formation.steps):
        earlier = predecessor(formation, index)
        if earlier in times and step.name in times:
            assert max(times[earlier]) <= min(times[step.name]) + TIME_TOLERANCE


@given(formation=formations(), koi_index=koi_indexes, fire_at=unix_times)
@PROPERTY_SETTINGS
def test_formation_steps_run_repeat_times_for_each_selected_koi(
    formation: Formation, koi_index: int, fire_at: float
) -> None:
    plan = formation_plan("f", formation, koi_index, SEED_PARTS, fire_at)
    counts = Counter(s.step for s in plan)
    taking_part = takes_part("f", formation, koi_index, SEED_PARTS, fire_at)
    for step in formation.steps:
        assert counts[step.name] in (0, step.repeat)
        assert all(s.action == step.action for s in plan if s.step == step.name)
        if step.koi == "all":
            assert counts[step.name] == (step.repeat if taking_part else 0)


@given(formation=formations(), fire_at=unix_times)
@PROPERTY_SETTINGS
def test_koi_zero_always_takes_part_and_runs_first_and_all_steps(formation: Formation, fire_at: float) -> None:
    assert takes_part("f", formation, 0, SEED_PARTS, fire_at)
    counts = Counter(s.step for s in formation_plan("f", formation, 0, SEED_PARTS, fire_at))
    for step in formation.steps:
        if step.koi in ("all", "first"):
            assert counts[step.name] == step.repeat


@given(formation=formations(), koi_index=st.integers(min_value=1, max_value=1_000_000), fire_at=unix_times)
@PROPERTY_SETTINGS
def test_first_steps_run_only_for_koi_zero(formation: Formation, koi_index: int, fire_at: float) -> None:
    first_steps = {step.name for step in formation.steps if step.koi == "first"}
    assert not first_steps & {s.step for s in formation_plan("f", formation, koi_index, SEED_PARTS, fire_at)}


@given(share=st.floats(min_value=0.01, max_value=1), fire_at=unix_times, name=st.sampled_from(["f", "all_hands"]))
@SLOW_PROPERTY_SETTINGS
def test_participation_fraction_over_many_koi_matches_share(share: float, fire_at: float, name: str) -> None:
    formation = single_step(FormationStart(every="1h"), share=share)
    koi = 10_000
    taking_part = sum(takes_part(name, formation, i, SEED_PARTS, fire_at) for i in range(1, koi + 1))
    assert within_six_sigma(taking_part, share * koi)


@given(share=st.floats(min_value=0.01, max_value=1), fire_at=unix_times)
@SLOW_PROPERTY_SETTINGS
def test_share_step_selects_that_fraction_of_participants(share: float, fire_at: float) -> None:
    step = FormationStep(name="react", action="a", koi=KoiShare(share=share), within_seconds=10)
    formation = Formation(start=FormationStart(every="1h"), share=0.5, steps=[step])
    plans = [formation_plan("f", formation, i, SEED_PARTS, fire_at) for i in range(1, 10_001)]
    participants = sum(takes_part("f", formation, i, SEED_PARTS, fire_at) for i in range(1, 10_001))
    assert within_six_sigma(sum(1 for plan in plans if plan), share * participants)


def test_participants_differ_between_firings_and_tests() -> None:
    formation = single_step(FormationStart(every="1h"), share=0.5)

    def chosen(seed_parts: tuple[str, ...], fire_at: float) -> set[int]:
        return {i for i in range(1, 1_000) if takes_part("f", formation, i, seed_parts, fire_at)}

    assert chosen(("t1",), 3600.0) != chosen(("t1",), 7200.0)
    assert chosen(("t1",), 3600.0) != chosen(("t2",), 3600.0)
    assert chosen(("t1",), 3600.0) == chosen(("t1",), 3600.0)


def test_step_windows_agree_with_formation_duration() -> None:
    formation = Formation(
        start=FormationStart(every="1h"),
        spread_seconds=30,
        steps=[
            FormationStep(name="announce", action="a", koi="first", within_seconds=0),
            FormationStep(name="react", action="a", within_seconds=60),
            FormationStep(name="read", action="a", within_seconds=120, after="announce"),
            FormationStep(name="again", action="a", within_seconds=10),
        ],
    )
    windows = step_windows(formation)
    assert windows == {"announce": (0, 0), "react": (0, 60), "read": (0, 120), "again": (120, 130)}
    assert formation.spread_seconds + max(end for _, end in windows.values()) == formation.duration_seconds


@given(formation=formations())
@PROPERTY_SETTINGS
def test_step_windows_end_where_the_model_says_a_run_ends(formation: Formation) -> None:
    windows = step_windows(formation)
    assert list(windows) == [step.name for step in formation.steps]
    assert formation.spread_seconds + max(end for _, end in windows.values()) == formation.duration_seconds


def test_a_step_after_an_earlier_step_runs_side_by_side_with_the_previous_one() -> None:
    formation = Formation(  # the README's all_hands example
        start=FormationStart(daily_utc="16:00"),
        steps=[
            FormationStep(name="announce", action="post", koi="first", within_seconds=0),
            FormationStep(name="react", action="react", koi=KoiShare(share=0.6), within_seconds=60),
            FormationStep(name="read", action="read", within_seconds=120, after="announce"),
        ],
    )
    plans = [formation_plan("all_hands", formation, i, SEED_PARTS, 1e9) for i in range(200)]
    times = by_step([scheduled for plan in plans for scheduled in plan])
    assert min(times["read"]) < max(times["react"])
    assert all(1e9 <= at <= 1e9 + 120 for at in times["read"])


# --- the shipped org-wide announcement -------------------------------------------------------------


def test_org_wide_announcement_posts_first_then_reactions_within_a_minute_then_reads() -> None:
    document = load_behavior_file(BEHAVIORS / "org_wide_announcement.yaml")
    formation = document.formations["org_wide_announcement"]
    fire_at = next_firing(formation, datetime(2030, 6, 2, 9, 17, tzinfo=UTC).timestamp())
    assert fire_at == datetime(2030, 6, 2, 10, tzinfo=UTC).timestamp()
    koi = 2_000
    plans = [formation_plan("org_wide_announcement", formation, i, SEED_PARTS, fire_at) for i in range(koi)]
    steps: dict[str, list[ScheduledAction]] = {"announce": [], "react": [], "read": []}
    for plan in plans:
        for scheduled in plan:
            assert scheduled.step is not None
            steps[scheduled.step].append(scheduled)

    assert [(s.at, s.action) for s in steps["announce"]] == [(fire_at, "post_announcement")]
    assert steps["announce"] == [s for s in plans[0] if s.step == "announce"]
    reactions = [s.at for s in steps["react"]]
    assert all(fire_at <= at <= fire_at + 60 for at in reactions)
    assert within_six_sigma(len(reactions), 0.6 * koi)
    reads = [s.at for s in steps["read"]]
    assert len(reads) == koi  # share 1.0 and `koi: all`: every koi reads, once
    assert all(fire_at + 60 <= at <= fire_at + 180 for at in reads)
    assert max(reactions) <= min(reads)
