"""The rates a behavior source yields now: its S3 export parsed, or its Prometheus queries asked."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from koipond.errors import BadRequestError, PrometheusQueryError, UsageInvalidError
from koipond.models.behavior_derive import (
    MethodRates,
    average_rates,
    percentile_rates,
    rates_by_label,
    rates_from_totals,
    single_value,
)
from koipond.models.behavior_source import BehaviorSource, S3Location
from koipond.models.prometheus import VectorSample
from koipond.models.usage import read_usage_csv, read_usage_jsonl
from koipond.services.ports.behavior_sources import InstantQueries, UsageObjects

# The tick (512 MB on AWS) holds the text and its parsed table at once: 16 MiB is ~560,000 rows of per-user
# counts, measured here at 2.5 s to parse and 140 MiB at peak, well within the tick's 50 s.
MAX_EXPORT_BYTES = 16 * 1024 * 1024
_PROBLEMS_SHOWN = 3


@dataclass(frozen=True)
class SourceReaders:
    """What reading sources needs: the S3 objects, Prometheus, and where S3 sources may read."""

    objects: UsageObjects
    prometheus: InstantQueries
    locations: tuple[S3Location, ...]
    clusters: frozenset[str]


def location_problem(source: BehaviorSource, readers: SourceReaders) -> str | None:
    """Why the Keeper may not read ``source`` (a bucket outside its locations, an unknown cluster), or None."""
    if source.kind == "s3":
        bucket, key = source.s3_object
        if not any(location.holds(bucket, key) for location in readers.locations):
            allowed = ", ".join(map(str, readers.locations)) or "none (set KOIPOND_BEHAVIOR_SOURCE_LOCATIONS)"
            return f"{source.describe()} is outside the locations the Keeper may read usage exports from: {allowed}"
        return None
    if source.cluster_name not in readers.clusters:
        known = ", ".join(sorted(readers.clusters)) or "none"
        return f"unknown Prometheus cluster {source.cluster_name!r} (configured: {known})"
    return None


def read_rates(source: BehaviorSource, readers: SourceReaders, now: datetime) -> MethodRates:
    """The rates ``source`` yields now.

    Raises:
        BadRequestError: the location is not allowed, or the data does not fit (UsageInvalidError names lines).
        SourceUnreadableError: the S3 object cannot be read (raised by the ``UsageObjects`` adapter).
        PrometheusQueryError: Prometheus cannot be read.
    """
    problem = location_problem(source, readers)
    if problem is not None:
        raise BadRequestError(problem)
    if source.kind == "s3":
        return _export_rates(source, readers)
    return _prometheus_rates(source, readers, now)


def _export_rates(source: BehaviorSource, readers: SourceReaders) -> MethodRates:
    bucket, key = source.s3_object
    text = readers.objects.read_text(bucket, key, MAX_EXPORT_BYTES)
    reader = read_usage_csv if source.file_format == "csv" else read_usage_jsonl
    try:
        table = reader(io.StringIO(text, newline=""), source.window)
    except UsageInvalidError as exc:
        problems = [_problem_text(p) for p in exc.details.get("problems", [])]
        shown = "; ".join(problems[:_PROBLEMS_SHOWN]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise UsageInvalidError(f"{source.describe()} is invalid: {shown or exc.message}", exc.details) from exc
    if source.percentile is None:
        return average_rates(table)
    return percentile_rates(table, source.percentile, source.percentile_of)


def _problem_text(problem: dict[str, object]) -> str:
    column = f", column {problem['column']}" if problem.get("column") else ""
    return f"line {problem.get('line')}{column}: {problem.get('problem')}"


def _prometheus_rates(source: BehaviorSource, readers: SourceReaders, now: datetime) -> MethodRates:
    query, users_query = source.queries()
    per_method = rates_by_label(_instant(readers, source.cluster_name, query, now), source.method_label)
    if users_query is None:
        assert source.users is not None
        active = source.users
    else:
        active = single_value(_instant(readers, source.cluster_name, users_query, now), "users")
    return rates_from_totals(per_method, active)


def _instant(readers: SourceReaders, cluster: str, query: str, now: datetime) -> Sequence[VectorSample]:
    result = readers.prometheus.instant_vector(cluster, query, now)
    if result.error is not None:
        raise PrometheusQueryError(f"{result.error} (query {query!r})")
    return result.series
