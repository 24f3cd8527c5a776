"""Re-deriving behaviors in the release tick, over the in-memory adapters: publish, unchanged, failure, races."""

from __future__ import annotations

from datetime import timedelta

import pytest

from koipond.errors import BadRequestError, NotFoundError, StaleVersionError
from koipond.models.behavior_source import BehaviorSource
from koipond.models.history import EventKind
from koipond.models.prometheus import VectorResult, VectorSample
from koipond.services.behavior_sources import CLAIM_SECONDS, MAX_RUNS_PER_TICK
from koipond.services.behaviors import BehaviorService
from tests.unit.services.behavior_source_fixtures import BASE_BEHAVIOR, S3_SOURCE, pond_with_base, usage_csv

SOURCE = BehaviorSource.model_validate(S3_SOURCE)
KEY = ("usage", "exports/avg.csv")


def test_a_rate_moving_past_the_threshold_publishes_a_version_with_an_event_naming_the_change() -> None:
    pond, clock = pond_with_base()
    pond.usage_objects.objects[KEY] = usage_csv(post=4, read=30, auth=1)
    pond.behavior_sources.put("avg", SOURCE, "ops")
    report = pond.behavior_sources.tick()
    assert report["runs"] == {"avg": "published version 2"}
    latest = pond.behavior_store.get("avg")
    assert (latest.version, latest.created_by) == (2, "derive:s3://usage/exports/avg.csv")
    assert latest.document.actions["read_history"].rate_per_hour == 30
    assert latest.document.description == BASE_BEHAVIOR["description"]
    event = pond.history.list_events("behavior:avg", newest_first=True)[0]
    assert event.kind is EventKind.BEHAVIOR_REDERIVED
    assert event.details["changes"] == ["read_history 20 -> 30/h (+50%)"]
    state = pond.source_store.get("avg")
    assert state is not None
    assert (state.last_outcome, state.last_published_version, state.claimed_until) == ("published", 2, None)
    assert state.next_due_at > clock.now() + timedelta(hours=23)


def test_moves_within_the_threshold_publish_nothing_and_the_run_waits_for_the_next_schedule() -> None:
    pond, clock = pond_with_base()
    pond.usage_objects.objects[KEY] = usage_csv(post=4.2, read=21, auth=1.05)
    pond.behavior_sources.put("avg", SOURCE, "ops")
    assert pond.behavior_sources.tick()["runs"] == {"avg": "unchanged"}
    assert pond.behavior_store.get("avg").version == 1
    clock.advance(3600)
    assert pond.behavior_sources.tick()["runs"] == {}  # not due again until tomorrow
    clock.advance(86_400)
    pond.usage_objects.objects[KEY] = usage_csv(post=8, read=20, auth=1)
    assert pond.behavior_sources.tick()["runs"] == {"avg": "published version 2"}


def test_an_unreadable_or_invalid_source_publishes_nothing_records_the_failure_and_retries_next_schedule() -> None:
    pond, clock = pond_with_base()
    pond.behavior_sources.put("avg", SOURCE, "ops")
    assert pond.behavior_sources.tick()["runs"]["avg"].startswith("failed: cannot read s3://usage/exports/avg.csv")
    pond.usage_objects.objects[KEY] = "user,method\nu1,chat.postMessage\n"
    clock.advance(86_400)
    outcome = pond.behavior_sources.tick()["runs"]["avg"]
    assert "line 1" in outcome
    assert "calls" in outcome
    assert pond.behavior_store.get("avg").version == 1
    failures = [e for e in pond.history.list_events("behavior:avg") if e.kind is EventKind.BEHAVIOR_REDERIVE_FAILED]
    assert len(failures) == 2
    assert failures[-1].details["consecutive_failures"] == 2
    state = pond.source_store.get("avg")
    assert state is not None
    assert state.consecutive_failures == 2


def test_a_quiet_method_keeps_its_action_at_rate_zero_so_it_can_come_back() -> None:
    pond, clock = pond_with_base()
    pond.usage_objects.objects[KEY] = "user,method,calls\nu1,chat.postMessage,96\nu1,conversations.history,480\n"
    pond.behavior_sources.put("avg", SOURCE, "ops")
    pond.behavior_sources.tick()
    v2 = pond.behavior_store.get("avg")
    assert v2.document.actions["auth_test"].rate_per_hour == 0
    clock.advance(86_400)
    pond.usage_objects.objects[KEY] = usage_csv(post=4, read=20, auth=2, users=1)
    pond.behavior_sources.tick()
    assert pond.behavior_store.get("avg").document.actions["auth_test"].rate_per_hour == 2


def test_of_two_ticks_reading_the_same_due_source_only_one_runs_it() -> None:
    pond, _ = pond_with_base()
    pond.usage_objects.objects[KEY] = usage_csv(post=4, read=30, auth=1)
    pond.behavior_sources.put("avg", SOURCE, "ops")
    listed = pond.source_store.due(pond.behavior_sources._clock.now(), 5)  # what a second tick read
    assert pond.behavior_sources.tick()["runs"] == {"avg": "published version 2"}
    with pytest.raises(StaleVersionError):
        pond.source_store.save(listed[0].model_copy(update={"claimed_until": None}), listed[0].version)
    assert pond.behavior_sources.tick()["runs"] == {}
    assert pond.behavior_store.get("avg").version == 2


def test_a_claim_left_by_a_dead_tick_lapses_and_the_run_happens_once() -> None:
    pond, clock = pond_with_base()
    pond.usage_objects.objects[KEY] = usage_csv(post=4, read=30, auth=1)
    pond.behavior_sources.put("avg", SOURCE, "ops")
    state = pond.source_store.get("avg")
    assert state is not None
    claim = state.model_copy(update={"claimed_until": clock.now() + timedelta(seconds=CLAIM_SECONDS)})
    pond.source_store.save(claim, state.version)  # a tick claimed it, then died
    assert pond.behavior_sources.tick()["runs"] == {}
    clock.advance(CLAIM_SECONDS + 1)
    assert pond.behavior_sources.tick()["runs"] == {"avg": "published version 2"}
    assert pond.behavior_sources.tick()["runs"] == {}


def test_a_version_uploaded_during_a_run_is_kept_and_the_source_runs_again_from_it() -> None:
    pond, clock = pond_with_base()
    pond.usage_objects.objects[KEY] = usage_csv(post=4, read=30, auth=1)
    pond.behavior_sources.put("avg", SOURCE, "ops")
    people = BehaviorService(pond.behavior_store, clock)
    original = pond.usage_objects.read_text

    def read_while_someone_uploads(bucket: str, key: str, max_bytes: int) -> str:
        people.put("avg", BASE_BEHAVIOR, "people")  # version 2, by hand, while the tick derives
        return original(bucket, key, max_bytes)

    pond.usage_objects.read_text = read_while_someone_uploads  # type: ignore[method-assign]
    assert pond.behavior_sources.tick()["runs"] == {"avg": "retrying: a new version was stored meanwhile"}
    pond.usage_objects.read_text = original  # type: ignore[method-assign]
    assert pond.behavior_store.get("avg").created_by == "people"
    assert pond.behavior_sources.tick()["runs"] == {"avg": "published version 3"}


def test_a_tick_runs_a_bounded_number_of_sources_the_longest_due_first() -> None:
    pond, clock = pond_with_base()
    people = BehaviorService(pond.behavior_store, clock)
    for name in ("a1", "a2", "a3"):
        people.put(name, BASE_BEHAVIOR, "people")
        pond.behavior_sources.put(name, SOURCE, "ops")
    first = pond.behavior_sources.tick()["runs"]
    assert list(first) == ["a1", "a2"][:MAX_RUNS_PER_TICK]
    assert list(pond.behavior_sources.tick()["runs"]) == ["a3"]


def test_a_prometheus_source_reads_the_configured_cluster() -> None:
    pond, _ = pond_with_base()
    rate = "sum by (method) (rate(api_requests_total[1d]))"
    pond.prometheus.answers[rate] = VectorResult(
        series=(
            VectorSample({"method": "chat.postMessage"}, 100 * 8 / 3600),
            VectorSample({"method": "conversations.history"}, 100 * 20 / 3600),
        )
    )
    source = BehaviorSource(kind="prometheus", query=rate.replace("1d", "$window"), users=100, window=86_400)
    pond.behavior_sources.put("avg", source, "ops")
    assert pond.behavior_sources.tick()["runs"] == {"avg": "published version 2"}
    assert pond.prometheus.asked[0][:2] == ("pond", rate)
    latest = pond.behavior_store.get("avg").document.actions
    assert (latest["post_message"].rate_per_hour, latest["auth_test"].rate_per_hour) == (8, 0)


def test_prometheus_down_is_a_recorded_failure_not_a_crash() -> None:
    pond, _ = pond_with_base()
    pond.prometheus.answers["q"] = VectorResult(error="Prometheus pond is unreachable: Connection refused")
    pond.behavior_sources.put("avg", BehaviorSource(kind="prometheus", query="q", users=3), "ops")
    assert "unreachable" in pond.behavior_sources.tick()["runs"]["avg"]


def test_a_source_outside_the_allowed_locations_or_of_an_unknown_cluster_or_behavior_is_refused() -> None:
    pond, _ = pond_with_base()
    with pytest.raises(BadRequestError, match="outside the locations"):
        pond.behavior_sources.put("avg", SOURCE.model_copy(update={"bucket": "koipond-tokens"}), "ops")
    with pytest.raises(BadRequestError, match="unknown Prometheus cluster 'prod'"):
        pond.behavior_sources.put("avg", BehaviorSource(kind="prometheus", query="q", users=3, cluster="prod"), "ops")
    with pytest.raises(NotFoundError, match="upload a version first"):
        pond.behavior_sources.put("nope", SOURCE, "ops")


def test_deleting_a_source_stops_the_runs_and_keeps_the_versions() -> None:
    pond, _ = pond_with_base()
    pond.behavior_sources.put("avg", SOURCE, "ops")
    assert pond.behavior_sources.delete("avg", "ops").source == SOURCE
    assert pond.behavior_sources.tick()["runs"] == {}
    with pytest.raises(NotFoundError):
        pond.behavior_sources.get("avg")
    kinds = [e.kind for e in pond.history.list_events("behavior:avg")]
    assert kinds[-2:] == [EventKind.BEHAVIOR_SOURCE_PUT, EventKind.BEHAVIOR_SOURCE_DELETED]
