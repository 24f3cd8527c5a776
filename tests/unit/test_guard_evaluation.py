"""Shutdown-guard evaluation: each documented rule as a property, the edges and details as examples."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from koipond.models.guard import Comparator, ErrorPolicy, Evaluation, GuardQuery, NoDataPolicy, Outcome
from koipond.services.guard_evaluation import QueryResult, Sample, evaluate, should_act, tolerance_seconds

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)
BASE = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIRROR = {
    Comparator.LESS_THAN: Comparator.GREATER_THAN,
    Comparator.LESS_THAN_OR_EQUAL: Comparator.GREATER_THAN_OR_EQUAL,
    Comparator.GREATER_THAN: Comparator.LESS_THAN,
    Comparator.GREATER_THAN_OR_EQUAL: Comparator.LESS_THAN_OR_EQUAL,
}
NAN = math.nan
INF = math.inf


# --- helpers and strategies ------------------------------------------------------------------------


def make_query(
    comparator: Comparator = Comparator.LESS_THAN,
    threshold: float = 0.95,
    time_range: str = "5m",
    step: str = "30s",
    **fields: object,
) -> GuardQuery:
    return GuardQuery.model_validate(
        {
            "label": "success-rate",
            "query": "sum(rate(ok[1m])) / sum(rate(all[1m]))",
            "time_range": time_range,
            "step": step,
            "threshold": threshold,
            "comparator": comparator,
            **fields,
        }
    )


def window_us(query: GuardQuery, now: datetime) -> tuple[int, int]:
    end = (now - EPOCH) // timedelta(microseconds=1)
    return end - query.time_range_seconds * 1_000_000, end


def window(query: GuardQuery, now: datetime) -> tuple[float, float]:
    """The window in Unix seconds, as the floats of its whole microseconds (so comparisons are exact)."""
    start, end = window_us(query, now)
    return start / 1e6, end / 1e6


def grid(query: GuardQuery, now: datetime, phase_us: int = 0) -> list[float]:
    """Timestamps one step apart up to ``now``, as a Prometheus range query returns.

    From the window start itself (``phase_us`` 0: the guard's own query), or aligned down (Trickster,
    query frontends): from ``step - phase`` before the start, the point the window opens with.
    """
    start, end = window_us(query, now)
    step = query.step_seconds * 1_000_000
    first = start + phase_us - step if phase_us else start
    return [t / 1e6 for t in range(first, end + 1, step)]


def whole_micros(times: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    """Times on whole microseconds, the resolution evaluate() compares at (Prometheus: milliseconds)."""
    return times.map(lambda t: round(t * 1e6) / 1e6)


def run(query: GuardQuery, samples: list[Sample], now: datetime, previous: Evaluation | None = None) -> Evaluation:
    return evaluate(query, QueryResult(samples=tuple(samples)), now, previous)


def counted(query: GuardQuery, samples: list[Sample], now: datetime) -> int:
    """What ``samples`` of an evaluation should be: the window's samples plus known ones at an earlier opener."""
    start, end = window(query, now)
    known_up_to_start = [s.at for s in samples if s.at <= start and not math.isnan(s.value)]
    opener = max(known_up_to_start, default=None)
    before = known_up_to_start.count(opener) if opener is not None and opener < start else 0
    return sum(start <= s.at <= end for s in samples) + before


@dataclass(frozen=True)
class Scenario:
    query: GuardQuery
    now: datetime
    times: list[float]  # a full grid over the window


def breaching(query: GuardQuery) -> st.SearchStrategy[float]:
    t = query.threshold
    match query.comparator:
        case Comparator.LESS_THAN:
            return st.floats(max_value=t, exclude_max=True, allow_nan=False)
        case Comparator.LESS_THAN_OR_EQUAL:
            return st.floats(max_value=t, allow_nan=False)
        case Comparator.GREATER_THAN:
            return st.floats(min_value=t, exclude_min=True, allow_nan=False)
        case Comparator.GREATER_THAN_OR_EQUAL:
            return st.floats(min_value=t, allow_nan=False)


def healthy(query: GuardQuery) -> st.SearchStrategy[float]:
    t = query.threshold
    match query.comparator:
        case Comparator.LESS_THAN:
            return st.floats(min_value=t, allow_nan=False)
        case Comparator.LESS_THAN_OR_EQUAL:
            return st.floats(min_value=t, exclude_min=True, allow_nan=False)
        case Comparator.GREATER_THAN:
            return st.floats(max_value=t, allow_nan=False)
        case Comparator.GREATER_THAN_OR_EQUAL:
            return st.floats(max_value=t, exclude_max=True, allow_nan=False)


def any_value(query: GuardQuery) -> st.SearchStrategy[float]:
    return st.one_of(breaching(query), healthy(query), st.just(NAN))


@st.composite
def scenarios(draw: st.DrawFn, min_points: int = 1) -> Scenario:
    step = draw(st.sampled_from([1, 5, 15, 30, 60]))
    steps = draw(st.integers(min_value=min_points, max_value=40))
    extra = draw(st.integers(min_value=0, max_value=step - 1))  # time_range need not be a multiple of step
    query = make_query(
        comparator=draw(st.sampled_from(list(Comparator))),
        threshold=draw(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)),
        time_range=f"{steps * step + extra}s",
        step=f"{step}s",
    )
    now = BASE + timedelta(microseconds=draw(st.integers(min_value=0, max_value=10**12)))
    # Any phase: Prometheus starts at `start`, Trickster aligns down to multiples of step, either covers.
    phase = draw(st.integers(min_value=0, max_value=step * 1_000_000 - 1))
    times = grid(query, now, phase)
    assert len(times) >= min_points
    return Scenario(query, now, times)


def samples_at(times: list[float], values: st.SearchStrategy[float]) -> st.SearchStrategy[list[Sample]]:
    """One sample at each of ``times``, values drawn from ``values``."""
    drawn = st.lists(values, min_size=len(times), max_size=len(times))
    return drawn.map(lambda vs: [Sample(at=t, value=v) for t, v in zip(times, vs, strict=True)])


def subsets(samples: list[Sample]) -> st.SearchStrategy[list[Sample]]:
    keep = st.lists(st.booleans(), min_size=len(samples), max_size=len(samples))
    return keep.map(lambda kept: [s for s, k in zip(samples, kept, strict=True) if k])


def in_window_times(scenario: Scenario) -> st.SearchStrategy[float]:
    start, end = window(scenario.query, scenario.now)
    return whole_micros(st.floats(min_value=start, max_value=end))


def outside_window_times(scenario: Scenario) -> st.SearchStrategy[float]:
    start, end = window(scenario.query, scenario.now)
    before = st.floats(min_value=start - 86_400, max_value=start, exclude_max=True)
    after = st.floats(min_value=end, max_value=end + 86_400, exclude_min=True)
    return whole_micros(st.one_of(before, after))


# --- sustained breach and coverage -----------------------------------------------------------------


@PROPERTY_SETTINGS
@given(st.data())
def test_breaching_sample_at_every_step_over_whole_window_is_breach(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    samples = data.draw(samples_at(scenario.times, breaching(scenario.query)))

    evaluation = run(scenario.query, samples, scenario.now)

    assert evaluation.outcome == Outcome.BREACH
    assert evaluation.samples == len(samples)
    assert evaluation.value == samples[-1].value


@PROPERTY_SETTINGS
@given(st.data())
def test_one_healthy_sample_anywhere_in_window_prevents_breach(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    samples = data.draw(samples_at(scenario.times, breaching(scenario.query)))
    i = data.draw(st.integers(min_value=0, max_value=len(samples) - 1))
    samples[i] = Sample(at=samples[i].at, value=data.draw(healthy(scenario.query)))

    assert run(scenario.query, samples, scenario.now).outcome == Outcome.HEALTHY


@PROPERTY_SETTINGS
@given(st.data())
def test_removing_two_adjacent_samples_turns_breach_into_breaching(data: st.DataObject) -> None:
    scenario = data.draw(scenarios(min_points=3))
    samples = data.draw(samples_at(scenario.times, breaching(scenario.query)))
    i = data.draw(st.integers(min_value=0, max_value=len(samples) - 2))
    assert run(scenario.query, samples, scenario.now).outcome == Outcome.BREACH

    evaluation = run(scenario.query, samples[:i] + samples[i + 2 :], scenario.now)

    assert evaluation.outcome == Outcome.BREACHING
    assert evaluation.value == (samples[-1] if i < len(samples) - 2 else samples[-3]).value


@PROPERTY_SETTINGS
@given(st.data())
def test_one_missing_interior_sample_is_tolerated(data: st.DataObject) -> None:
    scenario = data.draw(scenarios(min_points=3))
    samples = data.draw(samples_at(scenario.times, breaching(scenario.query)))
    i = data.draw(st.integers(min_value=1, max_value=len(samples) - 2))

    assert run(scenario.query, samples[:i] + samples[i + 1 :], scenario.now).outcome == Outcome.BREACH


@pytest.mark.parametrize("step", ["5s", "30s", "1m"])
@pytest.mark.parametrize(
    ("edge", "slack", "outcome"),
    [
        ("earliest", 0.0, Outcome.BREACH),
        ("earliest", 0.001, Outcome.BREACHING),
        ("latest", 0.0, Outcome.BREACH),
        ("latest", 0.01, Outcome.BREACHING),
        ("gap", 0.0, Outcome.BREACH),
        ("gap", 0.01, Outcome.BREACHING),
    ],
)
def test_coverage_needs_a_sample_at_the_start_and_allows_one_step_plus_tolerance_at_the_end_two_between(
    step: str, edge: str, slack: float, outcome: Outcome
) -> None:
    query = make_query(time_range="10m", step=step)
    start, end = window(query, BASE)
    size, tolerance = query.step_seconds, tolerance_seconds(query.step_seconds)
    if edge == "earliest":
        times = [start + slack, end]  # a millisecond late is late: the window would be shorter than asked
    elif edge == "latest":
        times = [start, end - size - tolerance - slack]
    else:
        middle = (start + end) / 2
        times = [start, middle, middle + 2 * size + tolerance + slack, end]
    times = sorted({*times, *(t for t in grid(query, BASE) if not _near_hole(t, times, size, edge))})

    assert run(query, [Sample(at=t, value=0.5) for t in times], BASE).outcome == outcome


def _near_hole(t: float, chosen: list[float], size: int, edge: str) -> bool:
    """Grid points that would fill the hole a coverage-bound example deliberately leaves."""
    match edge:
        case "earliest":
            return t < chosen[0]
        case "latest":
            return t > chosen[1]
        case _:
            return chosen[1] < t < chosen[2]


@pytest.mark.parametrize("step", [1, 5, 30, 60, 3600])
def test_tolerance_is_under_a_tenth_of_a_step_and_at_most_one_second(step: int) -> None:
    assert tolerance_seconds(step) == min(1.0, step / 10)


def test_millisecond_rounded_timestamps_just_before_the_window_still_give_breach() -> None:
    query = make_query()
    times = [round(t - 0.0004, 3) for t in grid(query, BASE)]  # Prometheus reports milliseconds

    evaluation = run(query, [Sample(at=t, value=0.5) for t in times], BASE)

    assert evaluation.outcome == Outcome.BREACH


# --- window ----------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(st.data())
def test_samples_after_now_never_change_the_evaluation(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    inside = data.draw(subsets(data.draw(samples_at(scenario.times, any_value(scenario.query)))))
    _, end = window(scenario.query, scenario.now)
    later = whole_micros(st.floats(min_value=end + 1e-6, max_value=end + 86_400))
    outside = data.draw(st.lists(st.builds(Sample, at=later, value=any_value(scenario.query)), max_size=10))

    with_outside = run(scenario.query, inside + outside, scenario.now)

    assert with_outside == run(scenario.query, inside, scenario.now)


@PROPERTY_SETTINGS
@given(st.data())
def test_samples_older_than_the_windows_opener_never_change_the_evaluation(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    inside = data.draw(samples_at(scenario.times, st.one_of(breaching(scenario.query), healthy(scenario.query))))
    older = whole_micros(st.floats(min_value=inside[0].at - 86_400, max_value=inside[0].at - 1e-6))
    outside = data.draw(st.lists(st.builds(Sample, at=older, value=any_value(scenario.query)), max_size=10))

    with_outside = run(scenario.query, inside + outside, scenario.now)

    assert with_outside == run(scenario.query, inside, scenario.now)


def test_samples_exactly_on_window_edges_count() -> None:
    query = make_query(time_range="1m", step="1m")
    start, end = window(query, BASE)

    evaluation = run(query, [Sample(at=start, value=0.5), Sample(at=end, value=0.6)], BASE)

    assert (evaluation.outcome, evaluation.samples, evaluation.value) == (Outcome.BREACH, 2, 0.6)


@PROPERTY_SETTINGS
@given(st.data())
def test_sample_order_never_changes_the_evaluation(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    times = st.one_of(st.sampled_from(scenario.times), in_window_times(scenario))
    samples = data.draw(st.lists(st.builds(Sample, at=times, value=any_value(scenario.query)), max_size=30))
    shuffled = data.draw(st.permutations(samples))

    assert run(scenario.query, shuffled, scenario.now) == run(scenario.query, samples, scenario.now)


# --- comparators and infinities --------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(st.data())
def test_mirrored_comparator_on_negated_values_gives_the_same_outcome(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    query = scenario.query
    samples = data.draw(subsets(data.draw(samples_at(scenario.times, any_value(query)))))
    mirrored = query.model_copy(update={"comparator": MIRROR[query.comparator], "threshold": -query.threshold})

    plain = run(query, samples, scenario.now)
    flipped = run(mirrored, [replace(s, value=-s.value) for s in samples], scenario.now)

    assert (flipped.outcome, flipped.samples) == (plain.outcome, plain.samples)
    assert flipped.value == (None if plain.value is None else -plain.value)


@pytest.mark.parametrize(
    ("comparator", "threshold", "value", "outcome"),
    [
        (Comparator.LESS_THAN, 0.95, 0.95, Outcome.HEALTHY),
        (Comparator.LESS_THAN_OR_EQUAL, 0.95, 0.95, Outcome.BREACH),
        (Comparator.GREATER_THAN, 2.0, 2.0, Outcome.HEALTHY),
        (Comparator.GREATER_THAN_OR_EQUAL, 2.0, 2.0, Outcome.BREACH),
        (Comparator.LESS_THAN, 0.95, -INF, Outcome.BREACH),
        (Comparator.LESS_THAN, 0.95, INF, Outcome.HEALTHY),
        (Comparator.GREATER_THAN, 2.0, INF, Outcome.BREACH),
        (Comparator.GREATER_THAN, 2.0, -INF, Outcome.HEALTHY),
    ],
)
def test_threshold_equality_and_infinities_compare_as_the_comparator_says(
    comparator: Comparator, threshold: float, value: float, outcome: Outcome
) -> None:
    query = make_query(comparator=comparator, threshold=threshold)

    evaluation = run(query, [Sample(at=t, value=value) for t in grid(query, BASE)], BASE)

    assert (evaluation.outcome, evaluation.value) == (outcome, value)


# --- NaN and no data -------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(st.data())
def test_nan_samples_neither_breach_nor_heal(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    samples = data.draw(samples_at(scenario.times, breaching(scenario.query)))
    if data.draw(st.booleans()):
        i = data.draw(st.integers(min_value=0, max_value=len(samples) - 1))
        samples[i] = Sample(at=samples[i].at, value=data.draw(healthy(scenario.query)))
    nans = data.draw(st.lists(st.builds(Sample, at=in_window_times(scenario), value=st.just(NAN)), max_size=10))
    before = run(scenario.query, samples, scenario.now)

    after = run(scenario.query, samples + nans, scenario.now)

    assert (after.outcome, after.value) == (before.outcome, before.value)
    assert after.samples == before.samples + len(nans)


@PROPERTY_SETTINGS
@given(st.data())
def test_nan_in_place_of_two_adjacent_breaching_samples_is_a_gap(data: st.DataObject) -> None:
    scenario = data.draw(scenarios(min_points=3))
    samples = data.draw(samples_at(scenario.times, breaching(scenario.query)))
    i = data.draw(st.integers(min_value=0, max_value=len(samples) - 2))
    samples[i : i + 2] = [replace(s, value=NAN) for s in samples[i : i + 2]]

    evaluation = run(scenario.query, samples, scenario.now)

    assert evaluation.outcome == Outcome.BREACHING
    assert evaluation.samples == counted(scenario.query, samples, scenario.now)


@PROPERTY_SETTINGS
@given(st.data())
def test_window_of_only_nan_samples_is_no_data(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    nans = data.draw(
        st.lists(st.builds(Sample, at=in_window_times(scenario), value=st.just(NAN)), min_size=1, max_size=20)
    )

    evaluation = run(scenario.query, nans, scenario.now)

    assert (evaluation.outcome, evaluation.value, evaluation.samples) == (Outcome.NO_DATA, None, len(nans))
    assert evaluation.detail == f"all {len(nans)} samples in the last {scenario.query.time_range} are NaN"


def test_no_samples_is_no_data() -> None:
    evaluation = run(make_query(), [], BASE)

    assert (evaluation.outcome, evaluation.value, evaluation.samples) == (Outcome.NO_DATA, None, 0)
    assert evaluation.detail == "no samples in the last 5m"


@PROPERTY_SETTINGS
@given(st.data())
def test_value_is_the_latest_known_sample_in_the_window(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    times = st.one_of(in_window_times(scenario), outside_window_times(scenario))
    samples = data.draw(st.lists(st.builds(Sample, at=times, value=any_value(scenario.query)), max_size=30))
    start, end = window(scenario.query, scenario.now)
    known = [s for s in samples if start <= s.at <= end and not math.isnan(s.value)]

    evaluation = run(scenario.query, samples, scenario.now)

    assert evaluation.value == (max(known, key=lambda s: (s.at, s.value)).value if known else None)
    assert evaluation.samples == counted(scenario.query, samples, scenario.now)


# --- errors ----------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(st.lists(st.booleans(), min_size=1, max_size=30))
def test_consecutive_errors_count_failed_runs_in_a_row_and_reset_on_anything_else(failures: list[bool]) -> None:
    query = make_query()
    healthy_run = QueryResult(samples=tuple(Sample(at=t, value=0.99) for t in grid(query, BASE)))
    previous: Evaluation | None = None
    expected = 0
    for failed in failures:
        result = QueryResult(error="connection refused") if failed else healthy_run
        previous = evaluate(query, result, BASE, previous)
        expected = expected + 1 if failed else 0

        assert previous.consecutive_errors == expected
        assert (previous.outcome == Outcome.ERROR) == failed


def test_error_detail_names_the_run_count_and_a_flattened_shortened_message() -> None:
    query = make_query()
    first = evaluate(query, QueryResult(error="Prometheus unreachable:\n  connection refused"), BASE, None)
    second = evaluate(query, QueryResult(error="x" * 500), BASE, first)

    assert first.detail == "query failed (1 in a row): Prometheus unreachable: connection refused"
    assert second.detail is not None
    assert second.detail.startswith("query failed (2 in a row): xxx")
    assert second.detail.endswith("…")
    assert len(second.detail) < 250
    assert (second.value, second.samples) == (None, 0)


def test_failed_result_with_samples_is_rejected() -> None:
    with pytest.raises(ValueError, match="either samples or error"):
        QueryResult(samples=(Sample(at=0.0, value=1.0),), error="timeout")


# --- details, records, misuse ----------------------------------------------------------------------


def test_details_state_count_window_rule_and_latest_value() -> None:
    query = make_query()
    times = grid(query, BASE)
    bad = [Sample(at=t, value=0.71) for t in times]
    partial = bad[:3] + bad[5:]
    mixed = [*bad[:-1], Sample(at=times[-1], value=0.97), Sample(at=times[-1] - 1, value=NAN)]

    assert run(query, bad, BASE).detail == "all 11 samples over 5m < 0.95 (latest 0.71)"
    assert run(query, partial, BASE).detail == (
        "all 9 samples < 0.95 (latest 0.71), but they have a 1m30s gap: not yet sustained over 5m"
    )
    assert run(query, mixed, BASE).detail == "1 of 11 samples over 5m are not < 0.95 (latest 0.97; 1 NaN ignored)"
    assert run(query, bad[:-3], BASE).detail == (
        "all 8 samples < 0.95 (latest 0.71), but the latest is 1m30s old: not yet sustained over 5m"
    )


@PROPERTY_SETTINGS
@given(st.data())
def test_every_evaluation_records_label_time_and_is_not_acted(data: st.DataObject) -> None:
    scenario = data.draw(scenarios())
    samples = data.draw(subsets(data.draw(samples_at(scenario.times, any_value(scenario.query)))))
    result = QueryResult(error="timeout") if data.draw(st.booleans()) else QueryResult(samples=tuple(samples))

    evaluation = evaluate(scenario.query, result, scenario.now, None)

    assert (evaluation.label, evaluation.at, evaluation.acted) == (scenario.query.label, scenario.now, False)
    assert evaluation.detail
    assert (evaluation.value is None) == (evaluation.outcome in {Outcome.NO_DATA, Outcome.ERROR})
    assert (evaluation.consecutive_errors > 0) == (evaluation.outcome == Outcome.ERROR)


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        run(make_query(), [], BASE.replace(tzinfo=None))


def test_previous_evaluation_of_another_query_is_rejected() -> None:
    other = Evaluation(label="p99-latency", at=BASE, outcome=Outcome.ERROR, consecutive_errors=2)

    with pytest.raises(ValueError, match="p99-latency"):
        run(make_query(), [], BASE, other)


# --- should_act ------------------------------------------------------------------------------------


def _evaluation(outcome: Outcome, consecutive_errors: int = 0) -> Evaluation:
    return Evaluation(label="success-rate", at=BASE, outcome=outcome, consecutive_errors=consecutive_errors)


@pytest.mark.parametrize(
    ("outcome", "errors", "on_no_data", "on_error", "acts"),
    [
        (Outcome.BREACH, 0, NoDataPolicy.IGNORE, ErrorPolicy(action="ignore"), True),
        (Outcome.BREACH, 0, NoDataPolicy.STOP, ErrorPolicy(), True),
        (Outcome.BREACHING, 0, NoDataPolicy.STOP, ErrorPolicy(), False),
        (Outcome.HEALTHY, 0, NoDataPolicy.STOP, ErrorPolicy(), False),
        (Outcome.NO_DATA, 0, NoDataPolicy.IGNORE, ErrorPolicy(), False),
        (Outcome.NO_DATA, 0, NoDataPolicy.STOP, ErrorPolicy(), True),
        (Outcome.ERROR, 2, NoDataPolicy.STOP, ErrorPolicy(action="stop", consecutive=3), False),
        (Outcome.ERROR, 3, NoDataPolicy.IGNORE, ErrorPolicy(action="stop", consecutive=3), True),
        (Outcome.ERROR, 4, NoDataPolicy.IGNORE, ErrorPolicy(action="stop", consecutive=3), True),
        (Outcome.ERROR, 1, NoDataPolicy.IGNORE, ErrorPolicy(action="stop", consecutive=1), True),
        (Outcome.ERROR, 100, NoDataPolicy.STOP, ErrorPolicy(action="ignore", consecutive=1), False),
    ],
)
def test_should_act_matrix(
    outcome: Outcome, errors: int, on_no_data: NoDataPolicy, on_error: ErrorPolicy, acts: bool
) -> None:
    query = make_query(on_no_data=on_no_data, on_error=on_error)

    assert should_act(query, _evaluation(outcome, errors)) is acts


@pytest.mark.parametrize("outcome", list(Outcome))
def test_disabled_query_never_acts(outcome: Outcome) -> None:
    query = make_query(enabled=False, on_no_data=NoDataPolicy.STOP, on_error=ErrorPolicy(consecutive=1))

    assert should_act(query, _evaluation(outcome, 5 if outcome == Outcome.ERROR else 0)) is False


def test_should_act_rejects_evaluation_of_another_query() -> None:
    other = Evaluation(label="p99-latency", at=BASE, outcome=Outcome.BREACH)

    with pytest.raises(ValueError, match="p99-latency"):
        should_act(make_query(), other)
