"""One /metrics for a School of several processes: identical series summed, nothing lost, nothing invented."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from koipond.metric_names import POLL_OK
from school_container import metrics_merge
from school_container.metrics import SchoolMetrics


def worker(calls: int, koi: int, lag: float, method: str = "post") -> str:
    """One worker's exposition: SchoolMetrics as its koi fill them."""
    metrics = SchoolMetrics()
    for _ in range(calls):
        metrics.record_call(method, "ok", 0.02)
    metrics.koi.labels("lt-1").set(koi)
    metrics.ws_connections.set(koi)
    metrics.schedule_lag.observe(lag)
    return generate_latest(metrics.registry).decode()


def values(text: bytes | str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    raw = text.decode() if isinstance(text, bytes) else text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(raw)
        for s in family.samples
    }


def merged(*texts: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return values(metrics_merge.render(metrics_merge.merge([metrics_merge.parse(t) for t in texts])))


def test_identical_series_are_summed_counters_gauges_and_histograms() -> None:
    school = merged(worker(3, 10, 0.002), worker(4, 12, 0.3))
    assert school[("koi_pond_school_web_api_calls_total", (("method", "post"), ("status", "ok")))] == 7
    assert school[("koi_pond_school_koi", (("test", "lt-1"),))] == 22
    assert school[("koi_pond_school_websocket_connections", ())] == 22
    assert school[("koi_pond_school_schedule_lag_seconds_count", ())] == 2
    assert school[("koi_pond_school_schedule_lag_seconds_bucket", (("le", "0.005"),))] == 1
    assert school[("koi_pond_school_schedule_lag_seconds_bucket", (("le", "0.5"),))] == 2
    assert school[("koi_pond_school_schedule_lag_seconds_sum", ())] == 0.302


def test_a_series_of_one_worker_only_is_kept_as_it_is() -> None:
    school = merged(worker(3, 10, 0.002, method="post"), worker(5, 0, 0.002, method="history"))
    assert school[("koi_pond_school_web_api_calls_total", (("method", "post"), ("status", "ok")))] == 3
    assert school[("koi_pond_school_web_api_calls_total", (("method", "history"), ("status", "ok")))] == 5


def test_the_merge_adds_no_series_and_keeps_the_earliest_creation_time() -> None:
    first, second = worker(1, 1, 0.01), worker(1, 1, 0.01)
    school = merged(first, second)
    assert set(school) == set(values(first)) | set(values(second))
    created = ("koi_pond_school_web_api_calls_created", (("method", "post"), ("status", "ok")))
    assert school[created] == min(values(first)[created], values(second)[created])


def test_the_supervisors_own_series_join_the_workers() -> None:
    registry = CollectorRegistry()
    SchoolMetrics(registry).polls.labels(POLL_OK).inc(9)
    school = merged(generate_latest(registry).decode(), worker(2, 5, 0.01))
    assert school[("koi_pond_school_keeper_polls_total", (("outcome", POLL_OK),))] == 9
    assert school[("koi_pond_school_koi", (("test", "lt-1"),))] == 5


def test_a_dead_worker_leaves_its_counts_but_not_its_levels() -> None:
    dead = metrics_merge.cumulative(metrics_merge.parse(worker(6, 10, 0.01)))
    live = metrics_merge.parse(worker(1, 4, 0.01))
    school = values(metrics_merge.render(metrics_merge.merge([dead, live])))
    assert school[("koi_pond_school_web_api_calls_total", (("method", "post"), ("status", "ok")))] == 7
    assert school[("koi_pond_school_schedule_lag_seconds_count", ())] == 2
    assert school[("koi_pond_school_koi", (("test", "lt-1"),))] == 4
    assert school[("koi_pond_school_websocket_connections", ())] == 4


def test_nothing_to_merge_renders_an_empty_exposition() -> None:
    assert metrics_merge.render(metrics_merge.merge([])) == b""
