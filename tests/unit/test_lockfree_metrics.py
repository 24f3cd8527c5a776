"""The School's lock-free counters and histograms scrape exactly as prometheus_client's own would."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from koipond import metric_names as mn
from school_container import metrics as school_metrics
from school_container.lockfree_metrics import LockFreeCounter, LockFreeHistogram
from school_container.metrics import LAG_BUCKETS, LATENCY_BUCKETS, SchoolMetrics

amounts = st.floats(min_value=-1.0, max_value=100.0, allow_nan=False) | st.sampled_from(
    [0.0, 0.005, 0.01, 1.0, 30.0, 31.0, math.inf]
)
methods = st.sampled_from(["chat.postMessage", "conversations.history", "a", 'quo"te', "back\\slash"])
statuses = st.sampled_from(mn.CALL_STATUSES)
calls = st.lists(st.tuples(methods, statuses, st.floats(min_value=0, max_value=60, allow_nan=False)), max_size=40)


def exposition(registry: CollectorRegistry) -> list[str]:
    """The text a scrape gets, without the ``_created`` lines (each family stamps its own creation time)."""
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), amounts), max_size=50))
def test_a_labelled_histogram_scrapes_as_prometheus_clients(observations: list[tuple[str, float]]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = LockFreeHistogram("h_seconds", "Help text.", ["method"], registry=ours, buckets=LATENCY_BUCKETS)
    stock = Histogram("h_seconds", "Help text.", ["method"], registry=theirs, buckets=LATENCY_BUCKETS)
    for label, amount in observations:
        fast.labels(label).observe(amount)
        stock.labels(label).observe(amount)
    assert exposition(ours) == exposition(theirs)


@given(st.lists(amounts, max_size=50))
def test_an_unlabelled_histogram_scrapes_as_prometheus_clients(observations: list[float]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = LockFreeHistogram("lag_seconds", "Lag.", registry=ours, buckets=LAG_BUCKETS)
    stock = Histogram("lag_seconds", "Lag.", registry=theirs, buckets=LAG_BUCKETS)
    for amount in observations:
        fast.observe(amount)
        stock.observe(amount)
    assert exposition(ours) == exposition(theirs)


@given(st.lists(st.tuples(st.sampled_from(["x", "y"]), st.sampled_from(["ok", "timeout"]), amounts), max_size=50))
def test_a_counter_scrapes_as_prometheus_clients(increments: list[tuple[str, str, float]]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = LockFreeCounter("calls", "Calls.", ["method", "status"], registry=ours)
    stock = Counter("calls", "Calls.", ["method", "status"], registry=theirs)
    for method, status, amount in increments:
        fast.labels(method, status).inc(max(amount, 0.0))
        stock.labels(method, status).inc(max(amount, 0.0))
    assert exposition(ours) == exposition(theirs)


def test_created_series_are_exported_like_prometheus_clients() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    LockFreeCounter("calls_total", "Calls.", ["m"], registry=ours).labels("a").inc()
    Counter("calls_total", "Calls.", ["m"], registry=theirs).labels("a").inc()
    LockFreeHistogram("h", "H.", registry=ours).observe(1)
    Histogram("h", "H.", registry=theirs).observe(1)
    names = [[s.name for m in r.collect() for s in m.samples] for r in (ours, theirs)]
    assert names[0] == names[1]
    assert "calls_created" in names[0]
    assert "h_created" in names[0]


def test_misuse_is_refused_as_prometheus_client_refuses_it() -> None:
    counter = LockFreeCounter("c", "C.", ["m"], registry=None)
    with pytest.raises(ValueError, match="missing label values"):
        counter.inc()
    with pytest.raises(ValueError, match="label count"):
        counter.labels("a", "b")
    with pytest.raises(ValueError, match="non-negative"):
        counter.labels("a").inc(-1)
    with pytest.raises(ValueError, match="sorted"):
        LockFreeHistogram("h", "H.", buckets=(2, 1))
    registry = CollectorRegistry()
    LockFreeCounter("c", "C.", registry=registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        LockFreeCounter("c", "C.", registry=registry)


def test_a_removed_series_leaves_the_scrape() -> None:
    registry = CollectorRegistry()
    counter = LockFreeCounter("c", "C.", ["m"], registry=registry)
    counter.labels("a").inc()
    counter.labels("b").inc()
    counter.remove("a")
    assert registry.get_sample_value("c_total", {"m": "a"}) is None
    assert registry.get_sample_value("c_total", {"m": "b"}) == 1.0


@given(calls)
def test_a_schools_metrics_scrape_the_same_as_with_prometheus_clients_own_classes(
    recorded: list[tuple[str, str, float]],
) -> None:
    """Every family of /metrics (names, HELP, types, labels, samples) whichever classes count the calls."""
    ours = SchoolMetrics()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(school_metrics, "_per_call_families", lambda: (Counter, Histogram))
        theirs = SchoolMetrics()
    assert type(ours.calls) is LockFreeCounter
    assert type(theirs.calls) is Counter
    for school in (ours, theirs):
        for method, status, seconds in recorded:
            school.record_call(method, status, seconds)
            school.schedule_lag.observe(seconds / 10)
            school.ws_lag.observe(seconds / 100)
            school.ws_event(method).inc()
    assert exposition(ours.registry) == exposition(theirs.registry)


def test_the_school_keeps_prometheus_clients_classes_in_multiprocess_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multiprocess values live in shared files that only prometheus_client's own classes write."""
    from prometheus_client import values

    class SharedFileValue(values.MutexValue):  # stands in for the class multiprocess mode picks at import
        pass

    monkeypatch.setattr(values, "ValueClass", SharedFileValue)
    school = SchoolMetrics()
    assert type(school.calls) is Counter
    assert type(school.duration) is Histogram
    assert type(school.koi) is Gauge
