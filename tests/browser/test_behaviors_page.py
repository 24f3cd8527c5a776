"""The console's Behaviors page in headless Chromium: versions, each action's rate, what changed between two."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Page, expect

from local_pond.pond import LocalPond, PondConfig
from tests.browser.conftest import shot, sign_in

A11Y_CHECKS = (Path(__file__).parent / "a11y_checks.js").read_text()
BEHAVIORS = Path(__file__).resolve().parents[2] / "behaviors"


@pytest.fixture(scope="module")
def pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    """A Keeper alone (no School, no Prometheus): the page reads behaviors only."""
    with LocalPond(PondConfig(state_dir=tmp_path_factory.mktemp("behaviors-pond"))) as running:
        running.seed_behaviors()
        yield running


def accessible(page: Page) -> None:
    assert page.evaluate(A11Y_CHECKS + "unlabelledControls()") == []
    assert page.evaluate(A11Y_CHECKS + "contrastProblems()") == []


def second_version() -> dict[str, Any]:
    """average_user with read_history doubled, auth_test gone and a bigger history page."""
    document: dict[str, Any] = yaml.safe_load((BEHAVIORS / "average_user.yaml").read_text())
    document["actions"]["read_history"]["rate_per_hour"] = 40
    document["actions"]["read_history"]["params"]["limit"] = "100"
    del document["actions"]["auth_test"]
    return document


def test_a_behaviors_versions_rates_and_what_changed(page: Page, pond: LocalPond) -> None:
    with pond.client() as admin:
        assert admin.get_behavior("average_user").version == 1
        admin.put_behavior("average_user", second_version())
    sign_in(page, pond)
    page.get_by_role("link", name="Behaviors", exact=True).click()
    expect(page.locator("main h1")).to_have_text("Behaviors")
    row = page.locator('#behaviors-list tr[data-behavior="average_user"]')
    expect(row).to_contain_text("v2")
    expect(page.locator('#behaviors-list tr[data-behavior="org_wide_announcement"]')).to_contain_text("v1")

    page.get_by_role("button", name="Open behavior average_user").click()
    detail = page.locator("#behavior-detail")
    expect(detail.locator("#behavior-title")).to_be_focused()
    versions = detail.locator("#behavior-versions tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.first).to_contain_text("v2")
    expect(versions.first).to_contain_text("57")  # calls per koi per hour
    expect(versions.first).to_contain_text("15.8")  # req/s per 1,000 koi
    expect(detail.locator('#behavior-actions tr[data-action="read_history"]')).to_contain_text("40")
    expect(detail.locator('#behavior-actions tr[data-action="auth_test"]')).to_have_count(0)

    diff = detail.locator("#behavior-diff")  # the two newest versions, compared on opening
    expect(diff).to_contain_text("From version 1 to version 2.")
    expect(diff.locator('tr[data-action="read_history"] .rate-percent')).to_have_text("+100%")
    expect(diff.locator("table", has=page.locator("caption", has_text="Actions removed"))).to_contain_text("auth_test")
    expect(diff.locator('tr[data-where="actions.read_history.params.limit"]')).to_contain_text("100")
    accessible(page)
    shot(page, "40-behavior-diff", diff)

    detail.get_by_label("From version").select_option("2")
    detail.get_by_label("To version").select_option("1")
    detail.get_by_role("button", name="Compare").click()
    expect(diff).to_contain_text("From version 2 to version 1.")
    expect(diff.locator('tr[data-action="read_history"] .rate-percent')).to_have_text("-50%")
    expect(diff.locator("table", has=page.locator("caption", has_text="Actions added"))).to_contain_text("auth_test")

    detail.get_by_role("button", name="Show the actions of version 1").click()
    expect(detail.locator("#behavior-actions-title")).to_have_text("Actions of version 1")
    expect(detail.locator('#behavior-actions tr[data-action="read_history"]')).to_contain_text("20")
    expect(detail.locator('#behavior-actions tr[data-action="auth_test"]')).to_be_visible()
    page.wait_for_timeout(3500)  # a refresh keeps what was chosen
    expect(detail.get_by_label("From version")).to_have_value("2")
    expect(detail.locator("#behavior-versions tr.selected")).to_contain_text("v1")


def test_a_viewer_sees_the_page_and_the_same_version_compares_as_no_change(page: Page, pond: LocalPond) -> None:
    with pond.client() as admin:
        viewer = admin.create_key("behaviors-viewer", "viewer").token
    sign_in(page, pond, viewer)
    page.get_by_role("link", name="Behaviors", exact=True).click()
    page.get_by_role("button", name="Open behavior org_wide_announcement").click()
    detail = page.locator("#behavior-detail")
    expect(detail.locator("#behavior-versions tbody tr")).to_have_count(1)
    expect(detail.locator("#behavior-diff")).to_be_empty()  # one version: nothing to compare on opening
    detail.get_by_role("button", name="Compare").click()
    expect(detail.locator("#behavior-diff")).to_contain_text(
        "No changes: version 1 and version 1 are the same document."
    )
    accessible(page)
