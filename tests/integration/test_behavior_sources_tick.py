"""The release tick re-derives behaviors from their sources: an S3 export in the embedded AWS, a real Prometheus."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from koipond.behavior_files import load_behavior_file
from koipond.clock import FixedClock
from koipond.composition import Keeper, build_keeper, release_tick_steps
from koipond.models.behavior_source import BehaviorSource
from koipond.notifications.intents import plan_notifications
from koipond.notifications.kinds import NotificationKind
from koipond.services.release_tick import run_release_tick
from koipond.settings import Settings
from tests.conftest import ADMIN_TOKEN, Api
from tests.integration.test_behavior_derive_prometheus import prometheus_url  # noqa: F401 (a fixture)
from tests.unit.services.behavior_source_fixtures import BASE_BEHAVIOR, usage_csv

BEHAVIORS = Path(__file__).resolve().parents[2] / "behaviors"
SOURCE = {"kind": "s3", "bucket": "usage-exports", "key": "koipond/avg.csv.gz", "window": "1d"}


@pytest.fixture
def settings() -> Settings:
    return Settings(
        admin_token=ADMIN_TOKEN, table_name="koipond-test", behavior_source_locations="s3://usage-exports/koipond/"
    )


@pytest.fixture
def s3(moto_dynamodb: Any) -> Iterator[Any]:
    """A bucket in the same embedded AWS as the table (the module's mock)."""
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="usage-exports")
    yield client
    for item in client.list_objects_v2(Bucket="usage-exports").get("Contents", []):
        client.delete_object(Bucket="usage-exports", Key=item["Key"])
    client.delete_bucket(Bucket="usage-exports")


def _export(s3: Any, text: str) -> None:
    s3.put_object(Bucket="usage-exports", Key=SOURCE["key"], Body=gzip.compress(text.encode()))


def test_the_tick_publishes_a_version_from_an_s3_export_and_asks_for_one_notification(
    keeper: Keeper, api: Api, s3: Any
) -> None:
    assert api.put("/v1/behaviors/avg", BASE_BEHAVIOR).status == 201
    _export(s3, usage_csv(post=4, read=30, auth=1))
    answer = api.put("/v1/behaviors/avg/source", SOURCE)
    assert answer.status == 200, answer.body
    assert answer.body["source"]["schedule"] == "1d"

    assert keeper.behavior_sources.tick() == {"runs": {"avg": "published version 2"}}
    stored = api.get("/v1/behaviors/avg").body
    assert (stored["version"], stored["created_by"]) == (2, "derive:s3://usage-exports/koipond/avg.csv.gz")
    assert stored["document"]["actions"]["read_history"]["rate_per_hour"] == 30
    [planned] = plan_notifications(keeper.notifications.repo.intents(10))
    assert planned.kind is NotificationKind.BEHAVIOR_REDERIVED
    assert planned.fields["changes"] == "read_history 20 -> 30/h (+50%)"

    report = run_release_tick(release_tick_steps(keeper))  # the whole tick: nothing is due again today
    assert report["behavior_sources"] == {"runs": {}}
    source = api.get("/v1/behaviors/avg/source").body
    assert (source["last_outcome"], source["last_published_version"]) == ("published", 2)


def test_an_unreadable_export_fails_the_run_not_the_tick_and_the_next_schedule_tries_again(
    keeper: Keeper, api: Api, s3: Any, clock: FixedClock
) -> None:
    assert api.put("/v1/behaviors/avg", BASE_BEHAVIOR).status == 201
    assert api.put("/v1/behaviors/avg/source", SOURCE).status == 200
    report = run_release_tick(release_tick_steps(keeper))
    assert report["behavior_sources"]["runs"]["avg"].startswith("failed: cannot read s3://usage-exports/koipond/")
    assert "error" not in report["notifications"]
    assert api.get("/v1/behaviors/avg").body["version"] == 1
    assert api.get("/v1/behaviors/avg/source").body["consecutive_failures"] == 1

    _export(s3, usage_csv(post=8, read=20, auth=1))
    clock.advance(86_400)
    assert keeper.behavior_sources.tick() == {"runs": {"avg": "published version 2"}}


def test_a_source_outside_the_allowed_locations_is_refused_by_the_keeper(api: Api, s3: Any) -> None:
    assert api.put("/v1/behaviors/avg", BASE_BEHAVIOR).status == 201
    answer = api.put("/v1/behaviors/avg/source", {**SOURCE, "bucket": "koipond-tokens", "key": "tokens/w/0.json"})
    assert answer.status == 400
    assert "outside the locations" in answer.body["error"]["message"]
    assert api.put("/v1/behaviors/avg/source", {**SOURCE, "schedule": "5m"}).status == 422


def test_the_tick_re_derives_from_a_real_prometheus(
    prometheus_url: str,  # noqa: F811 (the fixture imported above)
    dynamodb: Any,
) -> None:
    settings = Settings(table_name="koipond-test", prometheus_url=prometheus_url)
    keeper = build_keeper(settings, dynamodb, FixedClock(datetime.now(UTC)))
    base = load_behavior_file(BEHAVIORS / "average_user.yaml")
    keeper.behaviors.put("avg", base.model_dump(mode="json", exclude_none=True), "people")
    source = keeper.behavior_sources.put(
        "avg",
        BehaviorSource(
            kind="prometheus", query="sum by (method) (rate(api_requests_total[5s]))", users_query="max(active_users)"
        ),
        "ops",
    )
    assert source.source.cluster_name == "pond"
    assert keeper.behavior_sources.tick() == {"runs": {"avg": "published version 2"}}
    actions = keeper.behaviors.get("avg").document.actions
    # 40 requests/s x 3,600 s / 36,000 users = 4 calls per user per hour; 100/s -> 10; no calls read history.
    assert actions["post_message"].rate_per_hour == pytest.approx(4.0, rel=0.05)
    assert actions["user_info"].rate_per_hour == pytest.approx(10.0, rel=0.05)
    assert actions["read_history"].rate_per_hour == 0
