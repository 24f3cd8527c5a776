"""The guard never acts early: a breach is sustained only when it lasted the whole window (issue 15).

A black-box drill saw the guard stop a test 27.1 s after the first breaching sample of a 30 s / 5 s
query: the client rounded the query's start down to a whole second, the sample at that start fell just
before the window and was dropped, and coverage excused an earliest sample up to a step late. These
tests pin the rule with the issue's own numbers, then state it as properties over random sub-second
``now`` and random sample grids, as Prometheus, Trickster and a rounding client return them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from koipond.models.guard import Comparator, GuardQuery, Outcome
from koipond.prometheus import truncate_to_millis, unix_millis
from koipond.services.guard_evaluation import QueryResult, Sample, evaluate, tolerance_seconds

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = 1_000_000
THRESHOLD = 0.9
BREACHING, HEALTHY = 0.5, 0.99  # LessThan 0.9: a success rate of 50 % breaches, 99 % does not


def at(seconds: float) -> datetime:
    return EPOCH + timedelta(microseconds=round(seconds * US))


def query(time_range: int = 30, step: int = 5) -> GuardQuery:
    return GuardQuery(
        label="success-rate",
        query="sum(rate(ok[1m])) / sum(rate(all[1m]))",
        time_range=f"{time_range}s",
        step=f"{step}s",
        threshold=THRESHOLD,
        comparator=Comparator.LESS_THAN,
    )


def judge(q: GuardQuery, samples: list[tuple[int, float]], now_us: int) -> Outcome:
    """Evaluate samples given as (microseconds, value) at ``now_us``."""
    result = QueryResult(samples=tuple(Sample(t / US, v) for t, v in samples))
    return evaluate(q, result, EPOCH + timedelta(microseconds=now_us), None).outcome


# --- the reproduction ----------------------------------------------------------------------


def test_a_healthy_sample_at_the_rounded_down_start_prevents_a_breach() -> None:
    # now=1000.4; the client asked for 970..1000, so Prometheus answered at 970 (healthy) and 975..1000.
    samples = [Sample(970.0, HEALTHY), *(Sample(float(t), BREACHING) for t in range(975, 1001, 5))]

    evaluation = evaluate(query(), QueryResult(samples=tuple(samples)), at(1000.4), None)

    assert evaluation.outcome is Outcome.HEALTHY, evaluation.detail


def test_breaching_samples_from_975_are_not_yet_a_30s_breach_at_1000_4() -> None:
    samples = [Sample(float(t), BREACHING) for t in range(975, 1001, 5)]  # 25 s of breach, not 30

    evaluation = evaluate(query(), QueryResult(samples=tuple(samples)), at(1000.4), None)

    assert evaluation.outcome is Outcome.BREACHING
    assert evaluation.detail is not None
    assert "none is at or before the window start (the earliest is 4.6s after it)" in evaluation.detail


def test_the_same_breach_counts_once_a_breaching_sample_opens_the_window() -> None:
    samples = [Sample(float(t), BREACHING) for t in range(970, 1001, 5)]

    assert evaluate(query(), QueryResult(samples=tuple(samples)), at(1000.4), None).outcome is Outcome.BREACH


def test_the_guards_own_query_puts_a_sample_exactly_on_the_windows_start() -> None:
    # The driver ends the window on a whole millisecond and sends start and end to the millisecond;
    # Prometheus evaluates at start + k * step and reports the instants as e.g. "970.412".
    now = truncate_to_millis(at(1000.412345))
    start = now - timedelta(seconds=30)
    reported = [float(f"{970.412 + 5 * k:.3f}") for k in range(7)]

    assert (unix_millis(start), unix_millis(now)) == ("970.412", "1000.412")
    result = QueryResult(samples=tuple(Sample(t, BREACHING) for t in reported))
    assert evaluate(query(), result, now, None).outcome is Outcome.BREACH
    healthy_start = QueryResult(samples=(Sample(reported[0], HEALTHY), *result.samples[1:]))
    assert evaluate(query(), healthy_start, now, None).outcome is Outcome.HEALTHY


# --- properties ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    query: GuardQuery
    now_us: int
    samples: list[tuple[int, float]]  # (microseconds, value), any order, NaN allowed


def grid_first(kind: str, start_us: int, step_us: int, phase_us: int) -> int:
    """Where a range query's grid begins, for each way a query's start reaches Prometheus."""
    match kind:
        case "exact":  # the guard's own query: the window's start, to the millisecond
            return start_us - start_us % 1000
        case "rounded":  # prometheus-api-client before the fix: start rounded to a whole second
            return round(start_us / US) * US
        case "aligned":  # Trickster, query frontends: start aligned down to a multiple of step
            return start_us - start_us % step_us
        case _:  # anything else: some grid that begins within a step either side of the start
            return start_us - step_us + phase_us


@st.composite
def cases(draw: st.DrawFn) -> Case:
    step = draw(st.sampled_from([1, 2, 5, 10, 15, 30, 60]))
    time_range = step * draw(st.integers(min_value=1, max_value=20)) + draw(st.integers(0, step - 1))
    q = query(time_range, step)
    # Any day, any sub-second offset: the bug lived in the fraction of a second.
    now_us = draw(st.integers(min_value=1_600_000_000 * US, max_value=1_900_000_000 * US))
    start_us, step_us = now_us - time_range * US, step * US
    kind = draw(st.sampled_from(["exact", "rounded", "aligned", "shifted"]))
    first = grid_first(kind, start_us, step_us, draw(st.integers(0, 2 * step_us)))
    times = list(range(first, now_us + US, step_us))  # a rounded end may lie up to 0.5 s after now
    # Mostly breaching, so that sustained breaches are common; a drop is a point Prometheus did not return.
    kinds = draw(st.lists(st.sampled_from("bbbbbbbbhnd"), min_size=len(times), max_size=len(times)))
    values = {"b": BREACHING, "h": HEALTHY, "n": math.nan}
    samples = [(t, values[k]) for t, k in zip(times, kinds, strict=True) if k != "d"]
    return Case(q, now_us, draw(st.permutations(samples)))


def sustained_over_whole_window(case: Case) -> bool:
    """The README's rule, written out on its own: every known sample from the one that opens the window
    (the latest at or before its start) to ``now`` breaches, and they cover the window."""
    q = case.query
    step, tolerance = q.step_seconds * US, round(tolerance_seconds(q.step_seconds) * US)
    end = case.now_us
    start = end - q.time_range_seconds * US
    known = sorted((t, v) for t, v in case.samples if not math.isnan(v) and t <= end)
    opening = [t for t, _ in known if t <= start]
    if not opening or not any(t >= start for t, _ in known):
        return False
    judged = [(t, v) for t, v in known if t >= opening[-1]]
    times = [t for t, _ in judged]
    return (
        all(v < THRESHOLD for _, v in judged)
        and end - times[-1] <= step + tolerance
        and all(b - a <= 2 * step + tolerance for a, b in pairwise(times))
    )


def first_breaching_sample_of_the_last_run(case: Case) -> int | None:
    """When the breach still going on at ``now`` started: its first sample after the last healthy one."""
    known = sorted((t, v) for t, v in case.samples if not math.isnan(v) and t <= case.now_us)
    began: int | None = None
    for t, v in reversed(known):
        if v >= THRESHOLD:
            break
        began = t
    return began


@PROPERTY_SETTINGS
@given(cases())
def test_a_breach_is_reported_exactly_when_every_sample_over_the_whole_window_breaches_and_covers_it(
    case: Case,
) -> None:
    outcome = judge(case.query, case.samples, case.now_us)

    assert (outcome is Outcome.BREACH) == sustained_over_whole_window(case)


@PROPERTY_SETTINGS
@given(cases())
def test_the_guard_never_reports_a_breach_before_it_lasted_the_whole_window(case: Case) -> None:
    outcome = judge(case.query, case.samples, case.now_us)

    if outcome is Outcome.BREACH:
        began = first_breaching_sample_of_the_last_run(case)
        assert began is not None
        assert case.now_us - began >= case.query.time_range_seconds * US


@PROPERTY_SETTINGS
@given(
    step=st.sampled_from([1, 5, 15, 30]),
    steps=st.integers(min_value=1, max_value=12),
    breach_begins_us=st.integers(min_value=0, max_value=10 * US),
    first_run_us=st.integers(min_value=0, max_value=US - 1),
    period_us=st.integers(min_value=US // 10, max_value=10 * US),
    kind=st.sampled_from(["exact", "aligned"]),  # how the guard's query reaches Prometheus, with or without Trickster
)
def test_a_guard_running_over_a_breach_acts_no_earlier_than_the_window_and_at_most_a_step_and_a_run_later(
    step: int, steps: int, breach_begins_us: int, first_run_us: int, period_us: int, kind: str
) -> None:
    """The drill: a breach begins at a random instant; the guard runs every ``period`` from a random offset;
    each run gets what Prometheus answers for its query (values: breaching from the breach's start on).

    Exact grids act on the first run at least a window after the breach began; aligned ones up to a step
    later, as their opener is the grid point at or before the start.
    """
    q = query(steps * step, step)
    window_us, step_us = q.time_range_seconds * US, step * US
    base = 1_700_000_000 * US
    began = base + breach_begins_us
    now = base + first_run_us
    while True:
        now_ms = now - now % 1000  # the driver ends its window on a whole millisecond
        first = grid_first(kind, now_ms - window_us, step_us, 0)
        samples = [(t, BREACHING if t >= began else HEALTHY) for t in range(first, now_ms + 1, step_us)]
        if judge(q, samples, now_ms) is Outcome.BREACH:
            break
        assert now < began + window_us + 2 * step_us + period_us, "the guard never saw the breach"
        now += period_us
    # Never early: the first breaching sample is at least the whole window old. And not much later than that.
    assert now_ms - began >= window_us
    assert now - began <= window_us + step_us + period_us + 1000
