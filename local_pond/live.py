"""Live figures of a running pond, from the Schools' Prometheus metrics (two scrapes make a rate)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from koipond import metric_names as mn


@dataclass
class Scrape:
    """The counters and histogram buckets of one School at one moment."""

    at: float
    koi: float = 0.0
    calls: float = 0.0
    ok_calls: float = 0.0
    ws_events: float = 0.0
    ws_connections: float = 0.0
    # cumulative bucket counts of the call-duration histogram, by upper bound (all methods summed)
    latency_buckets: dict[float, float] = field(default_factory=dict)


def parse_scrape(text: str, at: float) -> Scrape:
    """Sum what matters out of a School's exposition text."""
    scrape = Scrape(at=at)
    buckets: dict[float, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == mn.SCHOOL_KOI:
                scrape.koi += value
            elif name == mn.SCHOOL_WEB_API_CALLS_TOTAL:
                scrape.calls += value
                scrape.ok_calls += value if labels.get(mn.STATUS_LABEL) == mn.OK_STATUS else 0.0
            elif name == mn.SCHOOL_WEBSOCKET_EVENTS_TOTAL:
                scrape.ws_events += value
            elif name == mn.SCHOOL_WEBSOCKET_CONNECTIONS:
                scrape.ws_connections += value
            elif name == mn.SCHOOL_WEB_API_CALL_DURATION_SECONDS_BUCKET:
                buckets[float(labels[mn.BUCKET_BOUND_LABEL])] += value
    scrape.latency_buckets = dict(buckets)
    return scrape


@dataclass(frozen=True)
class Figures:
    """What a person wants to see between two scrapes of one School."""

    koi: int
    requests_per_second: float
    success_rate: float | None  # None: no calls in the window
    p50_seconds: float | None
    p99_seconds: float | None
    ws_events_per_second: float
    ws_connections: int


def quantile(buckets: Mapping[float, float], q: float) -> float | None:
    """The ``q`` quantile of a cumulative histogram (linear inside a bucket, like histogram_quantile)."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def figures_between(before: Scrape, after: Scrape) -> Figures:
    """Rates and quantiles over the window between two scrapes of the same School."""
    seconds = max(after.at - before.at, 1e-9)
    calls = max(0.0, after.calls - before.calls)
    ok = max(0.0, after.ok_calls - before.ok_calls)
    window = {le: max(0.0, n - before.latency_buckets.get(le, 0.0)) for le, n in after.latency_buckets.items()}
    return Figures(
        koi=int(after.koi),
        requests_per_second=calls / seconds,
        success_rate=ok / calls if calls else None,
        p50_seconds=quantile(window, 0.5),
        p99_seconds=quantile(window, 0.99),
        ws_events_per_second=max(0.0, after.ws_events - before.ws_events) / seconds,
        ws_connections=int(after.ws_connections),
    )


def combine(scrapes: Iterable[Scrape], at: float) -> Scrape:
    """All Schools as one (sums; histogram buckets add up)."""
    total = Scrape(at=at)
    buckets: dict[float, float] = defaultdict(float)
    for s in scrapes:
        total.koi += s.koi
        total.calls += s.calls
        total.ok_calls += s.ok_calls
        total.ws_events += s.ws_events
        total.ws_connections += s.ws_connections
        for le, n in s.latency_buckets.items():
            buckets[le] += n
    total.latency_buckets = dict(buckets)
    return total


def scrape(url: str, at: float) -> Scrape | None:
    """One School's metrics, or None when it does not answer."""
    try:
        response = httpx.get(url, timeout=2.0)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    return parse_scrape(response.text, at)
