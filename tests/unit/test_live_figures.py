"""Live figures from two scrapes: rates, success rate and latency quantiles."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from local_pond.live import Scrape, combine, figures_between, parse_scrape, quantile

EXPOSITION = """\
# TYPE koi_pond_school_koi gauge
koi_pond_school_koi{test="lt-1"} 1000.0
koi_pond_school_koi{test="lt-2"} 500.0
# TYPE koi_pond_school_web_api_calls counter
koi_pond_school_web_api_calls_total{method="post_message",status="ok"} 90.0
koi_pond_school_web_api_calls_total{method="post_message",status="http_5xx"} 10.0
# TYPE koi_pond_school_websocket_events counter
koi_pond_school_websocket_events_total{type="message"} 40.0
# TYPE koi_pond_school_web_api_call_duration_seconds histogram
koi_pond_school_web_api_call_duration_seconds_bucket{le="0.1",method="post_message"} 50.0
koi_pond_school_web_api_call_duration_seconds_bucket{le="1.0",method="post_message"} 100.0
koi_pond_school_web_api_call_duration_seconds_bucket{le="+Inf",method="post_message"} 100.0
"""


def test_exposition_is_summed_over_tests_and_methods() -> None:
    scrape = parse_scrape(EXPOSITION, at=10.0)
    assert scrape.koi == 1500
    assert (scrape.calls, scrape.ok_calls, scrape.ws_events) == (100, 90, 40)
    assert scrape.latency_buckets == {0.1: 50, 1.0: 100, float("inf"): 100}


def test_figures_are_rates_over_the_window() -> None:
    before = Scrape(at=0.0, latency_buckets={0.1: 0, 1.0: 0, float("inf"): 0})
    figures = figures_between(before, parse_scrape(EXPOSITION, at=10.0))
    assert figures.requests_per_second == 10
    assert figures.success_rate == 0.9
    assert figures.ws_events_per_second == 4
    assert figures.p50_seconds == 0.1
    assert figures.p99_seconds is not None
    assert 0.9 < figures.p99_seconds <= 1.0


def test_no_calls_means_no_success_rate_rather_than_zero() -> None:
    assert figures_between(Scrape(at=0), Scrape(at=1)).success_rate is None


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=8), st.floats(0, 1))
def test_quantile_lies_within_the_histogram(counts: list[int], q: float) -> None:
    cumulative, total = {}, 0
    for i, n in enumerate(counts):
        total += n
        cumulative[0.01 * 2**i] = total
    value = quantile(cumulative, q)
    if total == 0:
        assert value is None
    else:
        assert value is not None
        assert 0 <= value <= max(cumulative)


def test_schools_combine_by_summing() -> None:
    a = parse_scrape(EXPOSITION, 1.0)
    total = combine([a, a], 1.0)
    assert (total.koi, total.calls, total.latency_buckets[1.0]) == (3000, 200, 200)
