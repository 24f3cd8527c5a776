"""The cost model's arithmetic, and the README showing exactly the table it computes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdk.cost import (
    UnitPrices,
    Usage,
    allocator_cost,
    allocator_pass_rru,
    markdown_table,
    monthly_cost,
    poll_cost_per_school,
    query_rru,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def _items(koi: int) -> dict[str, float]:
    return {item.name: item.monthly_usd for item in monthly_cost(Usage(koi=koi))}


def test_one_node_per_school_at_the_schools_capacity() -> None:
    assert Usage(koi=5_000).schools == 1
    assert Usage(koi=5_001).schools == 2
    assert Usage(koi=500_000).schools == 100
    assert _items(500_000)["School nodes"] == pytest.approx(100 * 0.08925 * 730)


def test_a_school_polls_every_five_seconds_for_a_month() -> None:
    # 525,600 polls: $1/M API + $0.20/M Lambda + 26,280 GB-s + 2 WRU (heartbeat and its index entry) and
    # 2 RRU (stop, assignment).
    expected = 0.5256 + 0.10512 + 26_280 * 0.0000166667 + 2 * 0.657 + 2 * 0.1314
    assert poll_cost_per_school(Usage(koi=1), UnitPrices()) == pytest.approx(expected)


def test_a_poll_costs_the_same_however_many_schools_and_tests_there_are() -> None:
    prices = UnitPrices()
    assert poll_cost_per_school(Usage(koi=5_000), prices) == poll_cost_per_school(Usage(koi=5_000_000), prices)


def test_the_allocator_runs_all_month_and_renews_its_lease_every_second() -> None:
    # 43,800 runs of 60 s at 512 MB; 2,628,000 passes of 1 WRU (lease) and 2 RRU (stop 1, change counter 1),
    # one in 10 of them full (tests Query 0.5, heartbeats 0.5); per run a consistent Query of the assignments
    # (1 RRU); 730 changes of
    # 6 WRU (the School's assignment: lease check, put, stamp on the heartbeat) + 2 WRU (the history event),
    # each followed by the School's one read of its new assignment (1 RRU).
    lambda_cost = 43_800 * 0.20 / 1e6 + 43_800 * 60 * 0.5 * 0.0000166667
    wru = 2_628_000 + 730 * 8
    rru = 2_628_000 * (2 + 1 / 10) + 43_800 + 730
    expected = lambda_cost + wru * 1.25 / 1e6 + rru * 0.25 / 1e6
    assert allocator_cost(Usage(koi=5_000), UnitPrices()) == pytest.approx(expected)
    assert _items(5_000)["Allocator"] == pytest.approx(26.59, abs=0.005)


def test_a_full_allocator_pass_reads_the_running_tests_and_the_heartbeats_by_the_4_kb() -> None:
    usage = Usage(koi=5_000_000)
    assert (usage.schools, usage.running_tests) == (1_000, 1_000)
    # Every pass: the stop and the change counter. One pass in 10 (every two 5 s poll intervals) is full: the
    # tests' index Query (700 KB: 171 blocks of 4 KB, half a unit each; unchanged tests are not read again)
    # and the heartbeats' index Query (300 KB: 74 blocks).
    assert allocator_pass_rru(usage) == pytest.approx(1 + 1 + (85.5 + 37) / 10)


@pytest.mark.parametrize(
    ("returned_bytes", "consistent", "rru"),
    [(0, False, 0.5), (4_096, False, 0.5), (4_097, False, 1.0), (300_000, False, 37.0), (4_097, True, 2.0)],
)
def test_a_query_costs_half_a_unit_per_4_kb_returned_unless_strongly_consistent(
    returned_bytes: int, consistent: bool, rru: float
) -> None:
    assert query_rru(returned_bytes, consistent=consistent) == rru


def test_fixed_costs_do_not_grow_with_koi() -> None:
    small, large = _items(5_000), _items(500_000)
    for name in ("EKS control plane", "NAT gateway (hourly)", "Guard + release tick", "KMS keys, secrets, alarm"):
        assert small[name] == large[name]
    assert small["EKS control plane"] == pytest.approx(73.0)


@given(st.integers(min_value=1, max_value=2_000), st.integers(min_value=1, max_value=2_000))
def test_cost_never_falls_as_schools_are_added(schools: int, more: int) -> None:
    fewer = sum(i.monthly_usd for i in monthly_cost(Usage(koi=schools * 5_000)))
    bigger = sum(i.monthly_usd for i in monthly_cost(Usage(koi=(schools + more) * 5_000)))
    assert bigger > fewer


def test_readme_shows_the_computed_table() -> None:
    table = markdown_table()
    assert "| **total** |" in table
    assert "| 5,000,000 koi (1,000 Schools) |" in table
    assert table in README.read_text(), "README's cost table is stale: paste `python -m cdk.cost`"
