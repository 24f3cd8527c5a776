"""The console's charts page when Prometheus stops: it says so, once for the page and on every chart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from local_pond.pond import LocalPond, PondConfig
from tests.browser.conftest import shot, sign_in

A11Y_CHECKS = (Path(__file__).parent / "a11y_checks.js").read_text()


@pytest.fixture(scope="module")
def pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    """The smallest pond with a Keeper and a real Prometheus (no School, no target): this module stops it."""
    config = PondConfig(state_dir=tmp_path_factory.mktemp("prometheus-down-pond"), with_prometheus=True)
    with LocalPond(config) as running:
        yield running


def test_charts_say_prometheus_is_unreachable_instead_of_drawing_empty_charts(page: Page, pond: LocalPond) -> None:
    sign_in(page, pond)
    page.goto(f"{pond.keeper_url}/ui/#/charts")
    expect(page.locator('[data-series="koi"] svg')).to_be_visible()  # Prometheus answers: charts are drawn
    expect(page.locator("#chart-status")).to_be_empty()
    assert pond.prometheus is not None

    pond.prometheus.stop()
    page.get_by_label("Range").select_option("15m")  # refreshes every chart now, not at the next period

    alert = page.locator("#chart-status").get_by_role("alert")
    expect(alert).to_contain_text("Prometheus is unreachable.")
    expect(alert).to_contain_text("the shutdown guard cannot see either")
    for series in ("success_rate", "latency_p50", "latency_p99", "koi", "websocket_lag_p99"):
        chart = page.locator(f'[data-series="{series}"]')
        expect(chart.locator(".chart-value")).to_have_text("Prometheus unreachable")
        expect(chart).to_contain_text("Not drawn: Prometheus did not answer.")
        expect(chart.locator("svg")).to_have_count(0)  # no empty chart that would read as "no traffic"
    assert page.evaluate(A11Y_CHECKS + "contrastProblems()") == []
    shot(page, "charts-prometheus-unreachable")
