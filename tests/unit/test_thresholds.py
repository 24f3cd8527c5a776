"""Thresholds: the grammar, str() reading back to the same threshold, evaluation against a run, and its details."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from koipond.metric_names import CALL_STATUSES
from koipond.models.latency_digest import LatencyDigest
from koipond.models.run_stats import ActionStats, LatencySummary, RunStats
from koipond.models.thresholds import (
    METRICS,
    OPERATORS,
    PER_ACTION_METRICS,
    THRESHOLD_EXAMPLES,
    Threshold,
    ThresholdError,
    ThresholdResult,
    all_passed,
    evaluate,
    parse_threshold,
    parse_thresholds,
)

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None)
ACTIONS = ("chat.postMessage", "conversations.history", "reactions-add", "a:b")

# --- strategies -------------------------------------------------------------------------------------------------

action_labels = st.one_of(st.sampled_from(ACTIONS), st.from_regex(r"[A-Za-z0-9_.:-]{1,24}", fullmatch=True))
limits_by_kind: dict[str, st.SearchStrategy[float]] = {
    "duration": st.one_of(
        st.floats(0, 3600), st.floats(0, 1e-3), st.integers(0, 10**6).map(lambda n: n / 1000), st.floats(0, 1e12)
    ),
    "rate": st.one_of(st.floats(0, 1), st.integers(0, 1000).map(lambda n: n / 1000)),
    "count": st.one_of(st.integers(0, 10**9).map(float), st.floats(0, 1e12)),
    "per_second": st.one_of(st.floats(0, 1e9), st.integers(0, 10**5).map(lambda n: n / 10)),
}


@st.composite
def thresholds(draw: st.DrawFn) -> Threshold:
    metric = draw(st.sampled_from(sorted(METRICS)))
    action = draw(st.one_of(st.none(), action_labels)) if metric in PER_ACTION_METRICS else None
    return Threshold(
        text="generated",
        action=action,
        metric=metric,
        op=draw(st.sampled_from(sorted(OPERATORS))),
        limit=draw(limits_by_kind[METRICS[metric]]),
    )


UNITS_WRITTEN = {
    "duration": {"": 1e-3, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "MS": 1e-3, " ms": 1e-3},
    "rate": {"": 1.0, "%": 0.01, " %": 0.01},
    "count": {"": 1.0},
    "per_second": {"": 1.0, "/s": 1.0},
}


@st.composite
def written_thresholds(draw: st.DrawFn) -> tuple[str, float]:
    """A threshold as a person might type it, and the limit it means."""
    metric = draw(st.sampled_from(sorted(METRICS)))
    kind = METRICS[metric]
    unit, factor = draw(st.sampled_from(sorted(UNITS_WRITTEN[kind].items())))
    ceiling = 100 if unit.strip() == "%" else 1 if kind == "rate" else 10**6
    number = draw(st.decimals(0, ceiling, places=draw(st.integers(0, 4)), allow_nan=False, allow_infinity=False))
    action = draw(st.one_of(st.none(), action_labels)) if metric in PER_ACTION_METRICS else None
    space = st.sampled_from(["", " ", "  ", "\t"])
    text = "".join(
        [
            draw(space),
            f"{action}:" if action else "",
            draw(st.sampled_from([metric, metric.upper()])),
            draw(space),
            draw(st.sampled_from(sorted(OPERATORS))),
            draw(space),
            f"{number:f}",
            unit,
            draw(space),
        ]
    )
    return text, float(number) * factor


def digest_of(values: list[float]) -> LatencyDigest:
    digest = LatencyDigest()
    for value in values:
        digest.record(value)
    return digest


latency_lists = st.lists(st.floats(0, 5), max_size=40)


@st.composite
def action_stats(draw: st.DrawFn) -> tuple[dict[str, int], list[float]]:
    counts = draw(st.dictionaries(st.sampled_from(CALL_STATUSES), st.integers(0, 6)))
    calls = sum(counts.values())  # one latency per call, as the engine records them
    return counts, draw(st.lists(st.floats(0, 5), min_size=calls, max_size=calls))


@st.composite
def run_stats(draw: st.DrawFn) -> RunStats:
    parts = draw(st.dictionaries(st.sampled_from(ACTIONS[:3]), action_stats(), max_size=3))
    everything: dict[str, int] = {}
    all_latencies = LatencyDigest()
    for counts, latencies in parts.values():
        for status, calls in counts.items():
            everything[status] = everything.get(status, 0) + calls
        all_latencies.merge(digest_of(latencies))
    return RunStats(
        elapsed_seconds=draw(st.one_of(st.just(0.0), st.floats(0.001, 3600))),
        koi=draw(st.integers(0, 1000)),
        actions={name: ActionStats.of(counts, digest_of(lat)) for name, (counts, lat) in parts.items()},
        total=ActionStats.of(everything, all_latencies),
        ws_connect_failures=draw(st.integers(0, 20)),
        ws_lag=LatencySummary.of(digest_of(draw(latency_lists))),
        schedule_lag=LatencySummary.of(digest_of(draw(latency_lists))),
    )


def expected_observed(threshold: Threshold, stats: RunStats) -> float | None:
    """What a threshold measures, read straight off the stats (the test's own reading of the grammar)."""
    metric, action = threshold.metric, threshold.action
    for prefix, summary in (("ws_lag_", stats.ws_lag), ("schedule_lag_", stats.schedule_lag)):
        if metric.startswith(prefix):
            value: float | None = getattr(summary, metric.removeprefix(prefix))
            return value
    if metric == "ws_connect_failures":
        return float(stats.ws_connect_failures)
    if metric == "rps":
        return stats.rate(action) if stats.elapsed_seconds > 0 else None
    calls = stats.total if action is None else stats.actions.get(action)
    if calls is None or calls.requests == 0:
        return 0.0 if metric in ("requests", "failures") else None
    figures = {"requests": calls.requests, "failures": calls.failures, "avg": calls.latency.mean}
    figures |= {"success_rate": calls.success_rate, "error_rate": calls.error_rate}
    return figures[metric] if metric in figures else getattr(calls.latency, metric)


@st.composite
def thresholds_for(draw: st.DrawFn, stats: RunStats) -> Threshold:
    """A threshold on ``stats``; its limit is sometimes exactly what it observes, to test the edges."""
    threshold = draw(thresholds())
    action = threshold.action if threshold.action is None else draw(st.sampled_from(ACTIONS[:3]))
    observed = expected_observed(Threshold("", action, threshold.metric, threshold.op, 0.0), stats)
    limit = threshold.limit if observed is None or draw(st.booleans()) else observed
    return Threshold(threshold.text, action, threshold.metric, threshold.op, limit)


# --- the examples of the grammar --------------------------------------------------------------------------------

EXAMPLES: list[tuple[str, str | None, str, str, float]] = [
    ("p99<500ms", None, "p99", "<", 0.5),
    ("success_rate>=0.99", None, "success_rate", ">=", 0.99),
    ("success_rate>=99%", None, "success_rate", ">=", 0.99),
    ("ws_lag_p99<200ms", None, "ws_lag_p99", "<", 0.2),
    ("chat.postMessage:p99<300ms", "chat.postMessage", "p99", "<", 0.3),
    ("error_rate<1%", None, "error_rate", "<", 0.01),
    ("rps>=40", None, "rps", ">=", 40.0),
    ("requests>=100", None, "requests", ">=", 100.0),
    ("max<2s", None, "max", "<", 2.0),
    ("avg<100ms", None, "avg", "<", 0.1),
    ("p99<500", None, "p99", "<", 0.5),  # a bare number is milliseconds, as in k6
    ("  p95 <= 1.5s \n", None, "p95", "<=", 1.5),
    ("P90 > 250 µs", None, "p90", ">", 0.00025),
    ("p50<250us", None, "p50", "<", 0.00025),
    ("max<2m", None, "max", "<", 120.0),
    ("rps>=40/s", None, "rps", ">=", 40.0),
    ("schedule_lag_p99<50ms", None, "schedule_lag_p99", "<", 0.05),
    ("schedule_lag_max<1s", None, "schedule_lag_max", "<", 1.0),
    ("ws_connect_failures<=0", None, "ws_connect_failures", "<=", 0.0),
    ("conversations.history:error_rate<0.5%", "conversations.history", "error_rate", "<", 0.005),
    ("reactions-add:requests>=10", "reactions-add", "requests", ">=", 10.0),
    ("ns:chat_post:p99<1s", "ns:chat_post", "p99", "<", 1.0),  # metric labels may hold colons
    ("p99<.5s", None, "p99", "<", 0.5),
]


@pytest.mark.parametrize(("text", "action", "metric", "op", "limit"), EXAMPLES)
def test_every_example_of_the_grammar_parses(text: str, action: str | None, metric: str, op: str, limit: float) -> None:
    threshold = parse_threshold(text)
    assert (threshold.action, threshold.metric, threshold.op, threshold.limit) == (action, metric, op, limit)
    assert threshold.text == text.strip()


@pytest.mark.parametrize("text", THRESHOLD_EXAMPLES)
def test_the_quoted_examples_parse_and_write_themselves_back(text: str) -> None:
    assert str(parse_threshold(text)) == text


@pytest.mark.parametrize(
    ("text", "written"),
    [("p99 < 500", "p99<500ms"), ("success_rate>=0.99", "success_rate>=99%"), ("max<2m", "max<120s")],
)
def test_str_writes_the_canonical_form(text: str, written: str) -> None:
    assert str(parse_threshold(text)) == written


def test_two_spellings_of_one_threshold_are_equal() -> None:
    assert parse_threshold("p99<500") == parse_threshold("p99 < 0.5s") == parse_threshold("P99<500000us")


# --- errors -----------------------------------------------------------------------------------------------------

ERRORS = [
    ("p99<fast", r"^'p99<fast': 'fast' is not a number \(e\.g\. p99<500ms\)$"),
    ("", "empty threshold"),
    ("   ", "empty threshold"),
    ("p99 500ms", "no comparison.*<, <=, >, >="),
    ("p99=500ms", "'=' is not a comparison"),
    ("p99==500ms", "'==' is not a comparison"),
    ("p99!=500ms", "'!=' is not a comparison"),
    ("p99<<500ms", "'<<' is not a comparison"),
    ("p99<", "no limit after '<'"),
    ("<500ms", "no metric before '<'"),
    ("chat:<500ms", "no metric before '<'"),
    ("p98<1s", r"unknown metric 'p98' \(did you mean p99\?\); known: p50, p90, p95, p99, max, avg, success_rate"),
    ("p(99)<1s", r"k6's p\(99\) is written p99"),
    ("latency<1s", "unknown metric 'latency'.*ws_lag_p99.*schedule_lag_p99"),
    ("chat:ws_lag_p99<200ms", "ws_lag_p99 is measured over the whole run, not per action; drop 'chat:'"),
    ("chat:schedule_lag_p99<1s", "schedule_lag_p99 is measured over the whole run"),
    ("chat:ws_connect_failures<1", "ws_connect_failures is measured over the whole run"),
    (":p99<1s", "an action label"),
    ("chat post:p99<1s", r"an action label \('chat post'\)"),
    ("p99<-1ms", "a limit is 0 or more"),
    ("p99<5h", "unknown unit 'h'; a duration takes us, µs, ms, s or m"),
    ("p99<5%", "% is for rates"),
    ("rps>10%", "% is for rates.*rps is a rate per second"),
    ("requests>10%", "% is for rates.*requests is a count"),
    ("success_rate>=99", "a rate is a fraction from 0 to 1 or a percentage"),
    ("success_rate>=101%", "a rate is a fraction from 0 to 1 or a percentage"),
    ("success_rate>=5ms", "'ms' is not a unit of a rate"),
    ("requests>=100ms", "requests is a count and takes no unit, got 'ms'"),
    ("ws_connect_failures<1s", "ws_connect_failures is a count and takes no unit"),
    ("rps>=40ms", "rps takes no unit but /s, got 'ms'"),
    ("rps>1e3", "without an exponent"),
    ("p99<1,5s", "unknown unit ',5s'"),
    ("p99<5<6", "one comparison per threshold"),
    ("p99<" + "9" * 400, "too large"),
    ("p99<٣ms", "'٣ms' is not a number"),  # a digit of another script: numbers are ASCII
]


@pytest.mark.parametrize(("text", "problem"), ERRORS)
def test_each_error_quotes_the_text_and_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ThresholdError, match=problem) as caught:
        parse_threshold(text)
    assert str(caught.value).startswith(repr(text.strip()) if text.strip() else repr(text))


def test_a_threshold_error_is_a_value_error() -> None:
    assert issubclass(ThresholdError, ValueError)


def test_parse_thresholds_keeps_the_order_written() -> None:
    parsed = parse_thresholds(["p99<1s", "chat.postMessage:rps>=1", "error_rate<1%"], actions=ACTIONS)
    assert [t.metric for t in parsed] == ["p99", "rps", "error_rate"]


def test_an_unknown_action_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(ThresholdError, match=r"no action 'chat.postMesage' in this run \(did you mean") as caught:
        parse_thresholds(["p99<1s", "chat.postMesage:p99<1s"], actions=["chat.postMessage", "reactions.add"])
    assert "its actions: chat.postMessage, reactions.add" in str(caught.value)


def test_any_action_is_accepted_when_the_actions_are_not_known() -> None:
    assert parse_thresholds(["whatever:p99<1s"])[0].action == "whatever"


def test_parse_thresholds_raises_the_first_bad_text() -> None:
    with pytest.raises(ThresholdError, match="'p98<1s'"):
        parse_thresholds(["p99<1s", "p98<1s", "p97<1s"])


# --- properties of the grammar ----------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(thresholds())
def test_str_of_a_threshold_parses_back_to_an_equal_threshold(threshold: Threshold) -> None:
    again = parse_threshold(str(threshold))
    assert again == threshold
    assert again.limit == threshold.limit  # the very same float, not a close one


@PROPERTY_SETTINGS
@given(written_thresholds())
def test_a_threshold_as_people_write_it_means_its_limit_and_round_trips(written: tuple[str, float]) -> None:
    text, limit = written
    threshold = parse_threshold(text)
    assert threshold.limit == pytest.approx(limit, rel=1e-12, abs=1e-15)
    assert parse_threshold(str(threshold)) == threshold


def near_misses(text: str) -> st.SearchStrategy[str]:
    """``text`` with one character dropped, doubled or swapped for one of the grammar's."""
    positions = st.integers(0, max(len(text) - 1, 0))
    grammar = st.sampled_from([*"<>=!:%.-_ 0123456789smuµpP\t", "", "e5", "%%"])
    return st.builds(lambda i, c, keep: text[:i] + c + text[i + keep :], positions, grammar, st.integers(0, 1))


garbage = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="pP0123456789<>=!:.%µsmu_ -ratewslgq\t\n", max_size=30),
    st.sampled_from([text for text, *_ in EXAMPLES] + [text for text, _ in ERRORS]).flatmap(near_misses),
    thresholds().map(str).flatmap(near_misses),
)


@settings(max_examples=1000, deadline=None)
@given(garbage)
def test_any_text_is_a_threshold_or_a_threshold_error_never_another_exception(text: str) -> None:
    try:
        threshold = parse_threshold(text)
    except ThresholdError as error:
        message = str(error)
    else:
        assert parse_threshold(str(threshold)) == threshold
        return
    assert message.startswith(repr(text.strip()) if text.strip() else repr(text))


# --- evaluation -------------------------------------------------------------------------------------------------

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
AMOUNT = re.compile(r": (?P<number>[0-9.]+)(?P<unit> µs| ms| s| points|/s|) (?P<direction>over|under) the limit of ")
UNIT_SIZES = {" µs": 1e-6, " ms": 1e-3, " s": 1.0, " points": 0.01, "/s": 1.0, "": 1.0}


@PROPERTY_SETTINGS
@given(st.data())
def test_passed_is_the_comparison_of_observed_and_limit_and_no_data_fails(data: st.DataObject) -> None:
    stats = data.draw(run_stats())
    threshold = data.draw(thresholds_for(stats))
    (result,) = evaluate([threshold], stats)
    expected = expected_observed(threshold, stats)
    assert result.threshold == threshold
    assert result.observed == (expected if expected is None else pytest.approx(expected))
    if result.observed is None:
        assert not result.passed
    else:
        assert result.passed == COMPARE[threshold.op](result.observed, threshold.limit)


@PROPERTY_SETTINGS
@given(st.data())
def test_a_failed_details_amount_is_the_distance_to_the_limit_in_the_unit_shown(data: st.DataObject) -> None:
    stats = data.draw(run_stats())
    threshold = data.draw(thresholds_for(stats))
    (result,) = evaluate([threshold], stats)
    assert result.detail.startswith(threshold.subject) or "no " in result.detail
    if result.observed is None:
        assert f"{threshold.subject} has no value and the threshold fails" in result.detail
    elif result.passed:
        assert f"(limit {threshold.op} " in result.detail
    elif result.observed == threshold.limit:
        assert ", at the limit of " in result.detail
    else:
        match = AMOUNT.search(result.detail)
        assert match is not None, result.detail
        assert match["direction"] == ("over" if result.observed > threshold.limit else "under")
        shown = match["number"]
        decimals = len(shown.partition(".")[2])
        size = UNIT_SIZES[match["unit"]]
        distance = abs(result.observed - threshold.limit) / size
        assert abs(float(shown) - distance) <= 0.5 * 10**-decimals + 1e-9 * distance
        assert float(shown) > 0  # never "0 ms over": shown with the digits needed to tell them apart


def summary(**figures: float) -> LatencySummary:
    values = {"count": 100, "p50": 0.1, "p90": 0.2, "p95": 0.25, "p99": 0.3, "max": 0.5, "mean": 0.12}
    return LatencySummary(**(values | figures))  # type: ignore[arg-type]


def calls(requests: int, failures: int, **figures: float) -> ActionStats:
    return ActionStats(requests, failures, {}, summary(**figures) if requests else LatencySummary.empty())


def a_run(**extra: object) -> RunStats:
    fields: dict[str, object] = {
        "elapsed_seconds": 10.0,
        "koi": 50,
        "actions": {"chat.postMessage": calls(300, 9, p99=0.612), "conversations.history": calls(112, 0)},
        "total": calls(412, 9, p99=0.612, mean=0.0912),
        "ws_lag": summary(p99=0.15),
    }
    return RunStats(**(fields | extra))  # type: ignore[arg-type]


DETAILS = [
    ("p99<500ms", False, "p99 was 612 ms: 112 ms over the limit of 500 ms"),
    ("p99<700ms", True, "p99 was 612 ms (limit < 700 ms)"),
    ("p99<612ms", False, "p99 was 612 ms, at the limit of 612 ms (must be < 612 ms)"),
    ("p99<=612ms", True, "p99 was 612 ms (limit <= 612 ms)"),
    ("p99<611.5ms", False, "p99 was 612 ms: 500 µs over the limit of 611.5 ms"),
    (
        "chat.postMessage:success_rate>=99%",
        False,
        "success_rate of chat.postMessage was 97.0 %: 2.0 points under the limit of 99.0 %",
    ),
    ("error_rate<1%", False, "error_rate was 2.2 %: 1.2 points over the limit of 1.0 %"),
    ("rps>=40", True, "rps was 41.2/s (limit >= 40.0/s)"),
    ("rps>=50", False, "rps was 41.2/s: 8.8/s under the limit of 50.0/s"),
    ("requests>=500", False, "requests was 412: 88 under the limit of 500"),
    ("avg<100ms", True, "avg was 91.2 ms (limit < 100 ms)"),
    ("max<2s", True, "max was 500 ms (limit < 2 s)"),
    ("ws_lag_p99<200ms", True, "ws_lag_p99 was 150 ms (limit < 200 ms)"),
    ("ws_connect_failures<1", True, "ws_connect_failures was 0 (limit < 1)"),
    ("chat.postMessage:p99<300ms", False, "p99 of chat.postMessage was 612 ms: 312 ms over the limit of 300 ms"),
]


@pytest.mark.parametrize(("text", "passed", "detail"), DETAILS)
def test_details_say_what_was_observed_against_the_limit(text: str, passed: bool, detail: str) -> None:
    (result,) = evaluate([parse_threshold(text)], a_run())
    assert (result.passed, result.detail) == (passed, detail)


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("reactions.add:p99<1s", "no calls of reactions.add were made, so p99 of reactions.add has no value"),
        ("reactions.add:success_rate>=0.99", "no calls of reactions.add were made"),
        ("ws_lag_p99<200ms", "no websocket message was received, so ws_lag_p99 has no value"),
        ("schedule_lag_p99<1s", "no action was started, so schedule_lag_p99 has no value"),
    ],
)
def test_a_threshold_with_nothing_to_measure_fails(text: str, detail: str) -> None:
    (result,) = evaluate([parse_threshold(text)], a_run(ws_lag=LatencySummary.empty()))
    assert (result.observed, result.passed) == (None, False)
    assert result.detail.startswith(detail)


def test_no_calls_at_all_fails_every_call_threshold() -> None:
    empty = RunStats(elapsed_seconds=5.0, koi=0, actions={}, total=ActionStats.empty())
    results = evaluate(parse_thresholds(["p99<1s", "error_rate<1%", "requests<10"]), empty)
    assert [(r.passed, r.observed) for r in results] == [(False, None), (False, None), (True, 0.0)]
    assert results[0].detail.startswith("no calls were made")


def test_rps_before_any_time_passed_has_nothing_to_measure() -> None:
    (result,) = evaluate([parse_threshold("rps>=0")], a_run(elapsed_seconds=0.0))
    assert (result.observed, result.passed) == (None, False)
    assert result.detail.startswith("no time passed")


def test_evaluate_answers_in_the_order_of_the_thresholds() -> None:
    results = evaluate(parse_thresholds(["max<2s", "p99<500ms", "rps>=40"]), a_run())
    assert [r.threshold.metric for r in results] == ["max", "p99", "rps"]
    assert [r.passed for r in results] == [True, False, True]


def test_all_passed_needs_every_result_to_pass_and_holds_for_none() -> None:
    passing, failing = evaluate(parse_thresholds(["max<2s", "p99<500ms"]), a_run())
    assert all_passed([])
    assert all_passed([passing])
    assert not all_passed([passing, failing])


def test_a_result_is_a_plain_frozen_record() -> None:
    threshold = parse_threshold("p99<1s")
    result = ThresholdResult(threshold, 0.5, passed=True, detail="d")
    with pytest.raises(AttributeError):
        result.passed = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "value", "shown"),
    [
        ("p99<1s", 0.612, "612 ms"),
        ("p99<1s", 0.0612, "61.2 ms"),
        ("p99<1s", 1.5, "1.5 s"),
        ("p99<1s", 0.00085, "850 µs"),
        ("p99<1s", 0.0, "0 ms"),
        ("success_rate>0.9", 0.987, "98.7 %"),
        ("rps>1", 41.2, "41.2/s"),
        ("requests>1", 12.0, "12"),
    ],
)
def test_describe_value_writes_the_metrics_natural_unit(text: str, value: float, shown: str) -> None:
    assert parse_threshold(text).describe_value(value) == shown
