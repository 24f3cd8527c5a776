"""A real School process against the real Keeper and the bundled target: koi swim, shed, survive faults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_pond.pond import LocalPond, PondConfig
from tests.e2e.school_probe import samples, wait_for

KOI = 120
# A busy user: every action once or a few times a minute, so a few seconds show every kind of call.
BUSY: dict[str, object] = {
    "description": "busy koi for e2e tests",
    "actions": {
        "post": {"method": "POST", "path": "/api/chat.postMessage", "rate_per_hour": 240,
                 "body": {"channel": "{channel.id}", "text": "{random.text}"}},
        "history": {"method": "GET", "path": "/api/conversations.history", "rate_per_hour": 240,
                    "params": {"channel": "{channel.id}", "limit": "20"}},
        "profile": {"method": "GET", "path": "/api/users.info", "rate_per_hour": 240,
                    "params": {"user": "{user.id}"}},
    },
    # koi i and i+64 (or i+77) share a channel (koipond.workspace.koi_channels), so posts reach others
    "channels": {"count_per_koi": 5},
}  # fmt: skip


@pytest.fixture(scope="module")
def school_pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    config = PondConfig(
        state_dir=tmp_path_factory.mktemp("school-pond"),
        poll_interval_seconds=1.0,
        schools=1,
        school_capacity=1000,
        koi_startup_spread_seconds=1.0,
    )
    with LocalPond(config) as pond:
        with pond.client() as admin:
            admin.put_behavior("busy", BUSY)
        yield pond


@pytest.fixture(scope="module")
def running_test(school_pond: LocalPond) -> Iterator[str]:
    with school_pond.client() as admin:
        test = admin.start_test(
            name="school e2e", target=school_pond.target_url, behavior="busy", workspace="e2e", koi=KOI
        )
    yield test.id
    with school_pond.client() as admin:
        admin.stop_test(test.id, "e2e done")


def school_metrics(pond: LocalPond) -> dict[str, float]:
    return samples(pond.school_metrics_urls[0])


def test_koi_swim_with_websockets_and_measure_lag(school_pond: LocalPond, running_test: str) -> None:
    metrics = wait_for(
        "every koi connected and calling",
        lambda: school_metrics(school_pond),
        lambda m: (
            m["koi_pond_school_koi"] == KOI
            and m["koi_pond_school_websocket_connections"] == KOI
            and m['koi_pond_school_web_api_calls_total{method="post",status="ok"}'] > 5
        ),
    )
    assert metrics['koi_pond_school_koi{test="' + running_test + '"}'] == KOI
    lag = wait_for(
        "message events received from other koi",
        lambda: school_metrics(school_pond)["koi_pond_school_websocket_event_lag_seconds_count"],
        lambda n: n > 0,
    )
    assert lag > 0
    target = samples(f"{school_pond.target_url}/metrics")
    assert target["koi_pond_target_websocket_connections"] >= KOI


def test_shedding_stops_only_the_shed_koi(school_pond: LocalPond, running_test: str) -> None:
    wait_for(
        "all koi connected",
        lambda: school_metrics(school_pond)["koi_pond_school_websocket_connections"],
        lambda n: n == KOI,
    )
    connects_before = school_metrics(school_pond)["koi_pond_school_websocket_connects_total"]
    with school_pond.client() as admin:
        admin.update_test(running_test, shed_percent=50)
    wait_for("half the koi", lambda: school_metrics(school_pond)["koi_pond_school_koi"], lambda n: n == KOI // 2)
    after = school_metrics(school_pond)
    assert after["koi_pond_school_websocket_connections"] == KOI // 2
    assert after["koi_pond_school_websocket_connects_total"] == connects_before, "a koi that stayed was restarted"
    with school_pond.client() as admin:
        admin.update_test(running_test, shed_percent=0)
    wait_for("all koi back", lambda: school_metrics(school_pond)["koi_pond_school_koi"], lambda n: n == KOI)


def test_target_errors_count_as_failures_and_the_school_keeps_swimming(
    school_pond: LocalPond, running_test: str
) -> None:
    before = school_metrics(school_pond)
    assert (
        school_pond.target_faults("PUT", {"route": "users.info", "error_rate": 1.0, "status": 503}).status_code == 200
    )
    try:
        wait_for(
            "users.info failures",
            lambda: school_metrics(school_pond)[
                'koi_pond_school_web_api_calls_total{method="profile",status="http_5xx"}'
            ],
            lambda n: n > before['koi_pond_school_web_api_calls_total{method="profile",status="http_5xx"}'] + 3,
        )
    finally:
        school_pond.target_faults("DELETE")
    assert school_metrics(school_pond)["koi_pond_school_koi"] == KOI


def test_reset_websockets_are_counted_and_reconnected(school_pond: LocalPond, running_test: str) -> None:
    wait_for(
        "all koi connected",
        lambda: school_metrics(school_pond)["koi_pond_school_websocket_connections"],
        lambda n: n == KOI,
    )
    before = school_metrics(school_pond)
    school_pond.target_faults("PUT", {"route": "*", "reset_websockets": True})
    wait_for(
        "disconnects counted and sockets reopened",
        lambda: school_metrics(school_pond),
        lambda m: (
            m["koi_pond_school_websocket_disconnects_total"]
            >= before["koi_pond_school_websocket_disconnects_total"] + KOI
            and m["koi_pond_school_websocket_connections"] == KOI
        ),
    )


def test_latency_counts_from_the_scheduled_time(school_pond: LocalPond, running_test: str) -> None:
    school_pond.target_faults("PUT", {"route": "users.info", "added_latency_ms": 400})
    try:
        count_name = 'koi_pond_school_web_api_call_duration_seconds_count{method="profile"}'
        fast_name = 'koi_pond_school_web_api_call_duration_seconds_bucket{le="0.25",method="profile"}'
        before = school_metrics(school_pond)
        after = wait_for(
            "slow users.info calls",
            lambda: school_metrics(school_pond),
            lambda m: m[count_name] >= before[count_name] + 10,
        )
    finally:
        school_pond.target_faults("DELETE")
    slow_calls = after[count_name] - before[count_name]
    fast_calls = after[fast_name] - before[fast_name]
    assert fast_calls <= slow_calls * 0.1, "most calls answered in under 250 ms despite 400 ms added latency"


def test_school_stops_its_koi_when_the_keeper_is_gone_for_the_failsafe_time(tmp_path: Path) -> None:
    config = PondConfig(
        state_dir=tmp_path,
        poll_interval_seconds=1.0,
        schools=1,
        koi_startup_spread_seconds=0.5,
        school_env={"KOIPOND_FAILSAFE_SECONDS": "4"},
    )
    with LocalPond(config) as pond:
        with pond.client() as admin:
            admin.put_behavior("busy", BUSY)
            admin.start_test(name="failsafe", target=pond.target_url, behavior="busy", workspace="e2e", koi=20)
        wait_for("koi swimming", lambda: school_metrics(pond)["koi_pond_school_koi"], lambda n: n == 20)
        pond.keeper.kill()
        assert school_metrics(pond)["koi_pond_school_koi"] == 20, "koi stopped before the failsafe time"
        wait_for("failsafe stop", lambda: school_metrics(pond)["koi_pond_school_koi"], lambda n: n == 0, timeout=30)
        school = pond.schools[0]
        assert school.popen is not None
        school.stop()
        assert school.popen.returncode == 0
