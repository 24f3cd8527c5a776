"""A test that follows its behavior's latest version, on a real pond: a new version reaches the School's koi
in batches, through the spec the School reads again (no restart, no new test).

The Keeper moves koi half at a time, 3 s apart (``KOIPOND_BEHAVIOR_MOVE_*``), so Schools read a following
test's spec every 3 s. Version 1 calls ``read_v1``, version 2 ``read_v2`` (each koi about once a second):
the School's own metrics show which version its koi run, and that both ran side by side for a while.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from koipond import envvars
from local_pond.pond import LocalPond, PondConfig
from tests.e2e.school_probe import samples, wait_for

KOI = 20
INTERVAL_SECONDS = 3.0


def behavior(action: str) -> dict[str, object]:
    return {
        "description": f"calls {action} about once a second",
        "actions": {action: {"method": "GET", "path": "/api/users.info", "rate_per_hour": 3600,
                             "params": {"user": "{user.id}"}}},
        "websocket": {"enabled": False},
        "channels": {"count_per_koi": 0},
    }  # fmt: skip


@pytest.fixture(scope="module")
def pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    config = PondConfig(
        state_dir=tmp_path_factory.mktemp("follow-pond"),
        poll_interval_seconds=1.0,
        schools=1,
        school_capacity=1000,
        koi_startup_spread_seconds=0.5,
        env={
            envvars.BEHAVIOR_MOVE_BATCH_PERCENT: "50",
            envvars.BEHAVIOR_MOVE_INTERVAL_SECONDS: str(INTERVAL_SECONDS),
        },
    )
    with LocalPond(config) as running:
        yield running


class Sample(NamedTuple):
    at: float
    v1: float  # read_v1 calls so far
    v2: float


def all_moved(seen: list[Sample]) -> bool:
    """Version 2 is called and no version-1 call was made for two intervals."""
    now = seen[-1].at
    if seen[-1].v2 == 0 or seen[0].at > now - 2 * INTERVAL_SECONDS:
        return False
    window = [s for s in seen if s.at >= now - 2 * INTERVAL_SECONDS]
    return window[0].v1 == window[-1].v1


def calls(pond: LocalPond, action: str) -> float:
    metrics = samples(pond.school_metrics_urls[0])
    return metrics.get(f'koi_pond_school_web_api_calls_total{{method="{action}",status="ok"}}', 0.0)


def test_a_new_version_reaches_a_following_tests_koi_in_batches(pond: LocalPond) -> None:
    with pond.client() as admin:
        admin.put_behavior("follows", behavior("read_v1"))
        test = admin.start_test(
            name="follows latest",
            target=pond.target_url,
            behavior={"name": "follows", "version": "latest"},
            workspace="follow",
            koi=KOI,
        )
    try:
        wait_for("every koi on version 1", lambda: calls(pond, "read_v1"), lambda n: n > 2 * KOI)
        with pond.client() as admin:
            assert admin.put_behavior("follows", behavior("read_v2")).version == 2

        # Sample both versions' calls until every koi runs version 2.
        seen: list[Sample] = []
        deadline = time.monotonic() + 60
        while not (seen and all_moved(seen)):
            if time.monotonic() > deadline:
                pytest.fail(f"the koi did not all move to version 2 within 60 s: {seen[-1]}")
            seen.append(Sample(time.monotonic(), calls(pond, "read_v1"), calls(pond, "read_v2")))
            time.sleep(0.25)

        first_v2 = next(s.at for s in seen if s.v2 > 0)
        last_v1 = max(b.at for a, b in itertools.pairwise(seen) if b.v1 > a.v1)
        # In batches: version-1 koi still called after the first koi had moved to version 2, for about one
        # interval (an all-at-once restart leaves no overlap).
        assert last_v1 - first_v2 >= INTERVAL_SECONDS / 3, (first_v2, last_v1)
        assert samples(pond.school_metrics_urls[0])[f'koi_pond_school_koi{{test="{test.id}"}}'] == KOI
        with pond.client() as admin:
            assert admin.show_test(test.id).status == "running"  # the same test throughout
    finally:
        with pond.client() as admin:
            admin.stop_test(test.id, "e2e done")
