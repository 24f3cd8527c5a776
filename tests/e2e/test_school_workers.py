"""One School, two worker processes: one identity and capacity, one /metrics, workers restarted with their koi."""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local_pond.pond import LocalPond, PondConfig
from school_container.descriptors import RESERVED_DESCRIPTORS
from school_container.main import SPLIT_SLACK
from tests.e2e.school_probe import samples, wait_for
from tests.e2e.test_school import BUSY

KOI = 60
WORKERS = 2
ROOM = 400  # koi one worker process has descriptors for (the HTTP pool is sized to leave this much)
CALLS = "koi_pond_school_web_api_calls_total"


def _http_pool() -> int | None:
    """An HTTP pool leaving each process ROOM koi under this machine's open-file limit (None: no usable limit)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard > 200_000:
        return None
    return hard - RESERVED_DESCRIPTORS - ROOM


@pytest.fixture(scope="module")
def pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    pool = _http_pool()
    config = PondConfig(
        state_dir=tmp_path_factory.mktemp("workers-pond"),
        poll_interval_seconds=1.0,
        schools=1,
        school_workers=WORKERS,
        school_capacity=1000,
        koi_startup_spread_seconds=0.5,
        school_env={"KOIPOND_MAX_CONNECTIONS": str(pool)} if pool else {},
    )
    with LocalPond(config) as running:
        with running.client() as admin:
            admin.put_behavior("busy", BUSY)
            admin.start_test(name="workers", target=running.target_url, behavior="busy", workspace="e2e", koi=KOI)
        yield running


def metrics(pond: LocalPond, school: int = 0) -> dict[str, float]:
    return samples(pond.school_metrics_urls[school])


def health(pond: LocalPond, school: int = 0) -> dict[str, Any]:
    url = pond.school_metrics_urls[school].replace("/metrics", "/healthz")
    answer: dict[str, Any] = httpx.get(url, timeout=5).json()
    return answer


def all_swimming(pond: LocalPond, school: int = 0) -> dict[str, float]:
    return wait_for(
        f"{KOI} koi connected over both workers",
        lambda: metrics(pond, school),
        lambda m: m["koi_pond_school_koi"] == KOI and m["koi_pond_school_websocket_connections"] == KOI,
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rpartition(")")[2].split()[0] == "Z")


def test_both_workers_hold_koi_and_one_metrics_endpoint_shows_the_whole_school(pond: LocalPond) -> None:
    found = all_swimming(pond)
    workers = health(pond)["workers"]
    assert [w["koi"] for w in workers] == [KOI // WORKERS] * WORKERS
    assert len({w["pid"] for w in workers}) == WORKERS
    assert found["koi_pond_school_workers"] == WORKERS
    wait_for("calls from the koi of both workers", lambda: metrics(pond)[CALLS], lambda n: n > 10)
    assert samples(f"{pond.target_url}/metrics")["koi_pond_target_websocket_connections"] >= KOI


def test_capacity_is_advertised_for_the_whole_school(pond: LocalPond) -> None:
    all_swimming(pond)

    def listed() -> Any:
        with pond.client() as admin:
            (school,) = admin.list_schools()
        return school

    school = wait_for("the School's report of all its koi", listed, lambda s: s.running_koi == KOI)
    expected = 1000 if _http_pool() is None else WORKERS * (ROOM - SPLIT_SLACK)
    assert school.capacity == expected
    if _http_pool() is not None:
        assert school.capacity > ROOM, "no more than one process could hold"


def test_a_killed_worker_is_restarted_with_its_koi_and_counts_do_not_fall_back(pond: LocalPond) -> None:
    all_swimming(pond)
    before = metrics(pond)
    victim = health(pond)["workers"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    after = wait_for(
        "the worker restarted and its koi back",
        lambda: metrics(pond),
        lambda m: (
            m["koi_pond_school_worker_restarts_total"] == before["koi_pond_school_worker_restarts_total"] + 1
            and m["koi_pond_school_koi"] == KOI
            and m["koi_pond_school_websocket_connections"] == KOI
        ),
    )
    workers = health(pond)["workers"]
    assert workers[0]["pid"] not in (None, victim)
    assert [w["koi"] for w in workers] == [KOI // WORKERS] * WORKERS
    assert after[CALLS] >= before[CALLS], "the School's counters fell back with the dead worker"


def test_the_emergency_stop_stops_the_koi_of_every_worker(pond: LocalPond) -> None:
    all_swimming(pond)
    with pond.client() as admin:
        admin.estop_on("workers drill")
    try:
        wait_for("every worker stopped", lambda: [w["koi"] for w in health(pond)["workers"]], lambda k: k == [0, 0])
        assert metrics(pond)["koi_pond_school_websocket_connections"] == 0
    finally:
        with pond.client() as admin:
            admin.estop_off("drill over")
            for test in admin.list_tests():  # the stop stopped them; load resumes only when asked
                admin.resume_test(test.id, "drill over")
    all_swimming(pond)


def test_sigterm_drains_every_worker_and_a_killed_school_leaves_no_worker(pond: LocalPond) -> None:
    all_swimming(pond)
    school = pond.schools[0]
    pids = [w["pid"] for w in health(pond)["workers"]]
    school.stop()
    assert school.popen is not None
    assert school.popen.returncode == 0
    assert not any(alive(pid) for pid in pids)
    wait_for(
        "the target sees every websocket closed",
        lambda: samples(f"{pond.target_url}/metrics")["koi_pond_target_websocket_connections"],
        lambda n: n == 0,
        timeout=15,
    )
    # A School killed outright: its workers end with it (they stop their koi), none is left running koi.
    with pond.client() as admin:
        token = admin.create_key("school-2", "school", school_id="school-2").token
    second = pond.start_school("school-2", token, pond.config.school_env)
    all_swimming(pond, school=1)
    pids = [w["pid"] for w in health(pond, school=1)["workers"]]
    second.kill()
    wait_for("no worker outlives its School", lambda: [alive(p) for p in pids], lambda a: not any(a), timeout=20)
