"""Behavior sources: validation with clear errors, the schedule's next due time, and which rate changes publish."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from koipond.models.behavior import BehaviorDocument
from koipond.models.behavior_diff import diff_behaviors
from koipond.models.behavior_source import (
    BehaviorSource,
    S3Location,
    next_due_after,
    parse_locations,
    rate_moves,
)
from tests.conftest import MINIMAL_BEHAVIOR, START


def _source(**fields: Any) -> BehaviorSource:
    return BehaviorSource.model_validate(fields)


def test_an_s3_source_defaults_to_daily_and_ten_percent_and_reads_durations() -> None:
    source = _source(kind="s3", bucket="usage-exports", key="koipond/users.csv.gz", window="7d")
    assert (source.schedule, source.threshold_percent, source.window) == (86_400, 10.0, 7 * 86_400)
    assert source.file_format == "csv"
    assert source.describe() == "s3://usage-exports/koipond/users.csv.gz"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"kind": "s3", "bucket": "b-1"}, "kind s3 needs bucket and key"),
        ({"kind": "s3", "bucket": "b-1", "key": "x.parquet"}, "give format: csv or jsonl"),
        ({"kind": "s3", "bucket": "b-1", "key": "x.csv", "query": "up"}, "query applies to kind prometheus only"),
        ({"kind": "prometheus", "users": 3}, "needs query"),
        ({"kind": "prometheus", "query": "q"}, "one of users_query or users"),
        ({"kind": "prometheus", "query": "rate(x[$window])", "users": 3}, "give window"),
        ({"kind": "prometheus", "query": "q", "users": 3, "bucket": "b-1"}, "bucket applies to kind s3 only"),
        ({"kind": "prometheus", "query": "q", "users": 3, "schedule": "10m"}, "greater than or equal to 3600"),
        ({"kind": "prometheus", "query": "q", "users": 3, "schedule": "soon"}, "not a duration"),
        ({"kind": "prometheus", "query": "q", "users": 3, "token": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_an_invalid_source_is_refused_naming_the_problem(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        _source(**fields)


def test_a_prometheus_source_names_a_configured_cluster_and_puts_the_window_in_its_queries() -> None:
    source = _source(kind="prometheus", query="sum by (method) (rate(x[$window]))", users_query="u", window="1d")
    assert source.cluster_name == "pond"
    assert source.queries() == ("sum by (method) (rate(x[1d]))", "u")


def test_the_next_due_time_stays_on_the_schedule_and_skips_missed_runs_once() -> None:
    day = 86_400
    assert next_due_after(START, day, START + timedelta(minutes=1)) == START + timedelta(days=1)
    assert next_due_after(START, day, START + timedelta(days=3, hours=2)) == START + timedelta(days=4)
    assert next_due_after(START, day, START + timedelta(days=1)) == START + timedelta(days=2)


def _document(**rates: float) -> BehaviorDocument:
    template = MINIMAL_BEHAVIOR["actions"]["auth_test"]
    actions = {name: {**template, "rate_per_hour": rate} for name, rate in rates.items()}
    return BehaviorDocument.model_validate({**MINIMAL_BEHAVIOR, "actions": actions})


def test_only_moves_beyond_the_threshold_or_actions_coming_and_going_publish() -> None:
    before = _document(a=10, b=10, c=0, d=5)
    after = _document(a=11, b=8.9, c=1, e=2)
    moves = rate_moves(diff_behaviors(before, after), 10)
    assert [m.describe() for m in moves] == [
        "b 10 -> 8.9/h (-11%)",
        "c 0 -> 1/h (from 0)",
        "d gone (was 5/h)",
        "e new at 2/h",
    ]
    assert rate_moves(diff_behaviors(before, before), 10) == ()


def test_locations_are_buckets_and_key_prefixes() -> None:
    locations = parse_locations("s3://usage-exports/koipond/, s3://other")
    assert locations == (S3Location("usage-exports", "koipond/"), S3Location("other", ""))
    assert locations[0].holds("usage-exports", "koipond/x.csv")
    assert not locations[0].holds("usage-exports", "tokens/x.csv")
    with pytest.raises(ValueError, match="not an S3 location"):
        parse_locations("https://bucket/x")
