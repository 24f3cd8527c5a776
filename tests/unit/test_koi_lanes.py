"""A following test's koi move onto a new behavior version in batches: per koi, never back, never all at once.

``KoiOrder.lanes`` splits a host's koi by the version each runs now (pure, property-tested); ``KoiHost``
reconciles per lane, so a batch that moves restarts and the koi that stay keep running untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from koipond.api.poll import BehaviorChangeOut, BehaviorRef, LoadTestSpec
from koipond.models.behavior import BehaviorDocument
from school_container.koi_host import KoiHost, lane_key
from school_container.metrics import SchoolMetrics
from school_container.orders import KoiOrder, orders_from_wire, orders_to_wire
from school_container.web_api import NativeWebApi

START = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def idle_behavior(description: str) -> BehaviorDocument:
    """A behavior whose koi make no call and hold no websocket: a koi is then only its task."""
    return BehaviorDocument.model_validate(
        {
            "description": description,
            "actions": {"noop": {"method": "GET", "path": "/api/noop", "rate_per_hour": 0}},
            "websocket": {"enabled": False},
            "channels": {"count_per_koi": 0},
        }
    )


V1, V2 = idle_behavior("version 1"), idle_behavior("version 2")


def order(koi: int, batch_fraction: float = 0.5, interval: float = 10.0, moving: bool = True) -> KoiOrder:
    change = (
        BehaviorChangeOut(
            from_version=1, to_version=2, started_at=START, batch_fraction=batch_fraction, interval_seconds=interval
        )
        if moving
        else None
    )
    spec = LoadTestSpec(
        test_id="lt-follow",
        test_name="follows",
        behavior=BehaviorRef(name="avg", version=2),
        target="http://127.0.0.1:9",
        workspace="pond",
        tags=[],
        follow_latest=True,
        behavior_change=change,
        refresh_seconds=60.0,
    )
    return KoiOrder("lt-follow", ((0, koi),), spec, V2, V1 if moving else None)


@given(
    st.frozensets(st.integers(0, 5_000), max_size=300),
    st.sampled_from([0.1, 0.25, 0.3, 0.5, 1.0]),
    st.lists(st.floats(-30, 400), min_size=2, max_size=6),
)
def test_lanes_split_every_koi_once_and_a_moved_koi_never_moves_back(
    koi: frozenset[int], fraction: float, offsets: list[float]
) -> None:
    the_order = order(5_001, fraction)
    moved_before: frozenset[int] = frozenset()
    for offset in sorted(offsets):
        lanes = the_order.lanes(koi, START + timedelta(seconds=offset))
        by_version = {lane.version: lane.koi for lane in lanes}
        assert set(by_version) <= {1, 2}
        assert frozenset().union(*by_version.values()) == koi  # every koi in one lane
        assert sum(len(lane.koi) for lane in lanes) == len(koi)
        moved = by_version.get(2, frozenset())
        assert moved_before <= moved  # never back
        moved_before = moved
        assert all(lane.behavior is (V2 if lane.version == 2 else V1) for lane in lanes)


def test_no_move_under_way_is_one_lane_of_the_current_version() -> None:
    lanes = order(10, moving=False).lanes(frozenset(range(10)), START)
    assert [(lane.version, len(lane.koi)) for lane in lanes] == [(2, 10)]


def test_the_previous_document_travels_to_workers() -> None:
    [received] = orders_from_wire(orders_to_wire([order(10)]))
    assert received.previous == V1
    assert received.spec is not None
    assert received.spec.behavior_change is not None


class NumberedTokens:
    """Tokens named after the user: these koi make no call, so no service needs to have minted them."""

    async def tokens_for(self, target: str, workspace: str, indexes: Sequence[int]) -> dict[int, str]:
        return {i: f"token-{i}" for i in indexes}


def koi_gauge(metrics: SchoolMetrics) -> float | None:
    return metrics.registry.get_sample_value("koi_pond_school_koi", {"test": "lt-follow"})


def test_a_host_moves_one_batch_per_interval_and_leaves_the_other_koi_running() -> None:
    async def scenario() -> None:
        clock = {"now": START}
        metrics = SchoolMetrics()
        web_api = NativeWebApi(4)
        host = KoiHost(web_api, NumberedTokens(), metrics, 0.0, now=lambda: clock["now"])
        the_order = order(40, batch_fraction=0.25, interval=10.0)  # 4 batches, one every 10 s
        try:
            tasks: dict[int, Any] = {}
            restarted_per_step: list[int] = []
            for step in range(5):
                clock["now"] = START + timedelta(seconds=10 * step + 1)
                assert await host.apply([the_order]) == {"lt-follow": 40}
                assert koi_gauge(metrics) == 40
                lanes = {key: dict(lane.koi) for key, lane in host._lanes.items()}
                current = {i: t for lane in lanes.values() for i, t in lane.items()}
                restarted_per_step.append(sum(1 for i, t in current.items() if i in tasks and tasks[i] is not t))
                tasks = current
                on_v2 = len(lanes.get(lane_key("lt-follow", 2), {}))
                assert on_v2 == min(40, 10 * (step + 1))
            # The first apply starts 40 koi; each later interval restarts one batch of 10, the last none.
            assert restarted_per_step == [0, 10, 10, 10, 0]
            assert set(host._lanes) == {lane_key("lt-follow", 2)}
            await host.stop_all("done")
            assert host.koi_count == 0
            assert koi_gauge(metrics) is None
        finally:
            await host.stop_all("test over")
            await web_api.close()

    asyncio.run(scenario())
