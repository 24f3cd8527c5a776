"""The cost model's arithmetic, and the README showing exactly the table it computes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdk.cost import UnitPrices, Usage, markdown_table, monthly_cost, poll_cost_per_school

README = Path(__file__).resolve().parents[2] / "README.md"


def _items(koi: int) -> dict[str, float]:
    return {item.name: item.monthly_usd for item in monthly_cost(Usage(koi=koi))}


def test_one_node_per_school_at_the_schools_capacity() -> None:
    assert Usage(koi=5_000).schools == 1
    assert Usage(koi=5_001).schools == 2
    assert Usage(koi=500_000).schools == 100
    assert _items(500_000)["School nodes"] == pytest.approx(100 * 0.08925 * 730)


def test_a_school_polls_every_five_seconds_for_a_month() -> None:
    # 525,600 polls: $1/M API + $0.20/M Lambda + 26,280 GB-s + 1 WRU and 4 RRU each.
    expected = 0.5256 + 0.10512 + 26_280 * 0.0000166667 + 0.657 + 4 * 0.1314
    assert poll_cost_per_school(Usage(koi=1), UnitPrices()) == pytest.approx(expected)


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
    assert table in README.read_text(), "README's cost table is stale: paste `python -m cdk.cost`"
