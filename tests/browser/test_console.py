"""The Keeper's web console in headless Chromium: start, shed, emergency stop and lift, as an engineer would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from local_pond.pond import LocalPond
from tests.browser.conftest import shot, sign_in, wait_for

KOI = 40
PAGES = ["tests", "rollouts", "deploys", "charts", "schools", "guard", "tokens", "notifications", "estop"]
A11Y_CHECKS = (Path(__file__).parent / "a11y_checks.js").read_text()


@pytest.fixture(autouse=True)
def no_emergency_stop(pond: LocalPond) -> Iterator[None]:
    """Each test starts and ends with the stop lifted, whatever the previous one did."""
    with pond.client() as admin:
        admin.request("DELETE", "/v1/emergency-stop")
    yield
    with pond.client() as admin:
        admin.request("DELETE", "/v1/emergency-stop")


def row_of(page: Page, test_id: str) -> Locator:
    return page.locator(f'tr[data-test-id="{test_id}"]')


def running_koi(page: Page, test_id: str) -> str:
    return row_of(page, test_id).locator(".koi-running").inner_text()


def start_test_in_form(page: Page, pond: LocalPond, name: str, koi: str) -> None:
    form = page.locator("#start-form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Target URL").fill(pond.target_url)
    form.get_by_label("Behavior").select_option("average_user")
    form.get_by_label("Workspace").fill("browser")
    form.get_by_label("Koi", exact=True).fill(koi)
    form.get_by_role("button", name="Start test").click()


def test_start_shed_and_emergency_stop_from_the_console(page: Page, pond: LocalPond) -> None:
    with pond.client() as admin:
        other = admin.start_test(
            name="background", target=pond.target_url, behavior="average_user", workspace="bg", koi=10
        )
    sign_in(page, pond)
    page.get_by_role("button", name="Start a test").click()
    start_test_in_form(page, pond, "console e2e", str(KOI))
    expect(page.get_by_role("status").filter(has_text="Started “console e2e”")).to_be_visible()
    test_id = page.locator("#test-panel .mono").inner_text().strip()
    wait_for(f"{KOI} koi running", lambda: running_koi(page, test_id), lambda text: text == str(KOI))
    shot(page, "01-tests-running")

    page.locator("#test-panel").get_by_label("Shed %", exact=True).fill("50")
    page.get_by_role("button", name="Apply shed").click()
    wait_for("running koi halved", lambda: running_koi(page, test_id), lambda text: text == str(KOI // 2))
    expect(row_of(page, test_id).locator(".koi-target")).to_have_text(str(KOI // 2))
    expect(page.locator("#test-panel table")).to_contain_text("Shed")
    shot(page, "02-tests-shed-50", page.locator("#test-panel"))

    page.get_by_role("button", name="Emergency stop", exact=True).click()
    dialog = page.get_by_role("dialog", name="Pull the emergency stop?")
    dialog.get_by_role("button", name="Stop every test").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Say why")
    dialog.get_by_label("Reason").fill("browser test: target on fire")
    shot(page, "03-estop-confirm")
    dialog.get_by_role("button", name="Stop every test").click()

    banner = page.locator("#estop-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("browser test: target on fire")
    for test in (test_id, other.id):
        expect(row_of(page, test).locator(".badge")).to_have_text("stopped")
        wait_for(f"{test}'s koi gone", lambda t=test: running_koi(page, t), lambda text: text == "0")
    shot(page, "04-tests-stopped", page.locator("#tests-list"))

    page.get_by_role("link", name="Emergency stop").click()
    history = page.locator("section", has=page.get_by_role("heading", name="History"))
    pulled = history.locator("tbody tr").filter(has_text="browser test: target on fire")
    expect(pulled).to_contain_text("Pulled")
    page.get_by_label("Reason for lifting (optional)").fill("fire is out")
    page.get_by_role("button", name="Lift the emergency stop").click()
    expect(banner).to_be_hidden()
    expect(history.locator("tbody tr").filter(has_text="fire is out")).to_contain_text("Lifted")
    expect(page.get_by_role("button", name="Emergency stop", exact=True)).to_be_visible()
    shot(page, "05-estop-lifted")


def test_start_form_shows_validation_messages(page: Page, pond: LocalPond) -> None:
    sign_in(page, pond)
    page.get_by_role("button", name="Start a test").click()
    start_test_in_form(page, pond, "bad koi", "0")
    koi = page.locator("#start-form").get_by_label("Koi", exact=True)
    expect(koi).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#start-koi-error")).to_have_text(re.compile("whole number from 1"))
    page.locator("#start-form").get_by_label("Target URL").fill("not a url")
    page.get_by_role("button", name="Start test").click()
    expect(page.locator("#start-target-error")).to_contain_text("not a URL")
    shot(page, "06-start-form-validation")
    with pond.client() as admin:
        assert [t for t in admin.list_tests() if t.name == "bad koi"] == []


def test_emergency_stop_is_reachable_and_operable_by_keyboard(page: Page, pond: LocalPond) -> None:
    page.goto(f"{pond.keeper_url}/ui/")
    page.keyboard.type(pond.config.admin_token)  # the token field has focus on arrival
    page.keyboard.press("Enter")
    page.get_by_role("navigation", name="Pages").wait_for()
    estop = page.get_by_role("button", name="Emergency stop", exact=True)
    for _ in range(30):
        if estop.evaluate("button => button === document.activeElement"):
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail("the emergency stop is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.type("keyboard-only pull")  # focus starts in the reason field
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#estop-banner")).to_contain_text("keyboard-only pull")
    shot(page, "07-estop-by-keyboard")


def test_empty_states_are_readable(page: Page, pond: LocalPond) -> None:
    sign_in(page, pond)
    page.get_by_label("Show tests with status").select_option("completed")
    expect(page.locator("#tests-list .empty")).to_have_text("No completed tests.")
    page.get_by_role("link", name="Tokens").click()
    expect(page.get_by_text("No token jobs yet.")).to_be_visible()
    expect(page.get_by_text("The dead-letter queue is empty")).to_be_visible()
    expect(page.get_by_role("button", name="Redrive failed batches")).to_be_disabled()
    page.get_by_role("link", name="Charts").click()
    page.get_by_label("Range").select_option("15m")
    expect(page.locator('[data-series="websocket_lag_p99"] svg')).to_have_attribute("aria-label", re.compile("."))
    shot(page, "08-empty-states")


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_without_errors(page: Page, pond: LocalPond, name: str) -> None:
    sign_in(page, pond)
    page.goto(f"{pond.keeper_url}/ui/#/{name}")
    expect(page.locator("main h1")).to_be_visible()
    refreshed = page.locator("#refreshed").inner_text()
    # The footer's time changes after the page's next full refresh: by then every table and chart is drawn.
    page.wait_for_function("before => document.getElementById('refreshed').textContent !== before", arg=refreshed)
    expect(page.locator("main .notice-error")).to_have_count(0)
    expect(page.get_by_role("button", name="Emergency stop", exact=True)).to_be_visible()
    shot(page, f"page-{name}")


@pytest.mark.parametrize("name", PAGES)
def test_every_page_has_labelled_controls_and_readable_contrast(page: Page, pond: LocalPond, name: str) -> None:
    sign_in(page, pond)
    page.goto(f"{pond.keeper_url}/ui/#/{name}")
    expect(page.locator("main h1")).to_be_visible()
    if name == "tests":
        page.get_by_role("button", name="Start a test").click()
    assert page.evaluate(A11Y_CHECKS + "unlabelledControls()") == []
    assert page.evaluate(A11Y_CHECKS + "contrastProblems()") == []


def test_a_viewer_sees_everything_but_steers_nothing_except_the_emergency_stop(page: Page, pond: LocalPond) -> None:
    with pond.client() as admin:
        viewer = admin.create_key("vera the viewer", "viewer").token
        test_id = admin.start_test(
            name="watched", target=pond.target_url, behavior="average_user", workspace="browser", koi=4
        ).id
    sign_in(page, pond, viewer)
    expect(page.locator("#whoami")).to_have_text("Signed in as vera the viewer (viewer) · ")
    expect(page.get_by_role("button", name="Start a test")).to_be_hidden()
    row_of(page, test_id).get_by_role("button", name="Manage").click()
    panel = page.locator("#test-panel")
    expect(panel.get_by_text("Read-only: scaling, shedding and stopping need an operator key.")).to_be_visible()
    for control in ("Scale", "Apply shed", "Stop test"):
        expect(panel.get_by_role("button", name=control)).to_be_hidden()
    shot(page, "05-viewer-read-only", panel)

    # Anyone may pull the emergency stop; lifting it is an operator's call.
    page.get_by_role("button", name="Emergency stop").click()
    page.get_by_label("Reason (shown to everyone)").fill("a viewer saw the error rate climb")
    page.get_by_role("button", name="Stop every test").click()
    expect(page.locator("#estop-banner")).to_be_visible()
    page.goto(f"{pond.keeper_url}/ui/#/estop")
    expect(page.get_by_text("Lifting it needs an operator key.")).to_be_visible()
    expect(page.get_by_role("button", name="Lift the emergency stop")).to_be_hidden()
    with pond.client() as admin:
        assert admin.estop_status().active is True
        admin.stop_test(test_id, reason="viewer test done")


def test_sign_in_refuses_a_bad_token_and_is_accessible(page: Page, pond: LocalPond) -> None:
    page.goto(f"{pond.keeper_url}/ui/")
    assert page.evaluate(A11Y_CHECKS + "unlabelledControls()") == []
    assert page.evaluate(A11Y_CHECKS + "contrastProblems()") == []
    page.get_by_label("API token").fill("kp_nobody_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That token was not accepted.")
    assert page.evaluate("sessionStorage.length") == 0
    shot(page, "00-sign-in-refused")
