"""The console's release pages in headless Chromium: rollouts, deploys and notifications, as an engineer uses them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from local_pond.pond import LocalPond
from tests.browser.conftest import shot, sign_in

A11Y_CHECKS = (Path(__file__).parent / "a11y_checks.js").read_text()


def accessible(page: Page) -> None:
    assert page.evaluate(A11Y_CHECKS + "unlabelledControls()") == []
    assert page.evaluate(A11Y_CHECKS + "contrastProblems()") == []


def start_test(pond: LocalPond, name: str, koi: int = 10) -> str:
    with pond.client() as admin:
        test = admin.start_test(name=name, target=pond.target_url, behavior="average_user", workspace="rel", koi=koi)
    return test.id


def open_page(page: Page, pond: LocalPond, name: str) -> None:
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.locator("main h1")).to_have_text(name)


def fill_stage(page: Page, number: int, koi: str, hold: str) -> None:
    page.get_by_label(f"Stage {number} Koi").fill(koi)
    page.get_by_label(f"Stage {number} Hold").fill(hold)


def rollout_row(page: Page, rollout_id: str) -> Locator:
    return page.locator(f'#rollouts-list tr[data-rollout-id="{rollout_id}"]')


def test_empty_states_before_anything_happened(page: Page, pond: LocalPond) -> None:
    """Runs first in this module's pond: nothing was rolled out, deployed or notified yet."""
    sign_in(page, pond)
    open_page(page, pond, "Notifications")
    expect(page.locator("#notifications-list .empty")).to_have_text(
        "No notifications yet — configure routes in the notification secret, see docs/notifications.md."
    )
    accessible(page)
    open_page(page, pond, "Rollouts")
    expect(page.locator("#rollouts-list .empty")).to_contain_text("No rollouts yet.")
    open_page(page, pond, "Deploys")
    expect(page.locator("#deploys-list .empty")).to_contain_text("Name a service above")
    shot(page, "20-release-empty-states")


def test_start_a_rollout_from_the_console_then_pause_it(page: Page, pond: LocalPond) -> None:
    test_id = start_test(pond, "ramp-me")
    sign_in(page, pond)
    open_page(page, pond, "Rollouts")
    page.get_by_role("button", name="Start a rollout").click()
    form = page.locator("#rollout-form")
    form.get_by_label("Test", exact=True).select_option(test_id)
    fill_stage(page, 1, "20", "7d")
    form.get_by_role("button", name="Add stage").click()
    fill_stage(page, 2, "15", "7x")  # lower than stage 1 and not a duration: caught in the browser
    form.get_by_role("button", name="Start rollout").click()
    expect(page.locator("#ro-stage-2-koi-error")).to_contain_text("Must exceed stage 1's 20")
    expect(page.locator("#ro-stage-2-hold-error")).to_contain_text("Not a duration")
    expect(page.get_by_label("Stage 2 Koi")).to_have_attribute("aria-invalid", "true")
    accessible(page)
    shot(page, "21-rollout-form-validation", form)
    fill_stage(page, 2, "40", "1w")
    form.get_by_label("Reason").fill("browser ramp")
    form.get_by_role("button", name="Start rollout").click()

    expect(page.get_by_role("status").filter(has_text="started: stage 1/2, 20 koi, hold 7d")).to_be_visible()
    detail = page.locator("#rollout-detail")
    expect(detail.locator("tr.current-stage")).to_contain_text("20")
    expect(detail.locator("tr.current-stage")).to_contain_text("▶ current")
    rollout_id = detail.locator("h2 .mono").inner_text().strip()
    row = rollout_row(page, rollout_id)
    expect(row.locator(".stage-label")).to_have_text("1/2")
    expect(row.locator(".stage-koi")).to_have_text("20")
    expect(row.locator("progress")).to_have_attribute("aria-label", re.compile(r"left of 7d"))
    with pond.client() as admin:
        assert admin.show_test(test_id).koi == 20  # stage 1 scaled the test in the same transaction
    shot(page, "22-rollout-started", detail)

    pause = detail.get_by_role("button", name="Pause", exact=True)
    pause.click()
    expect(detail.get_by_label("Reason for pausing")).to_be_focused()
    page.keyboard.press("Escape")  # cancels and gives focus back to the button that asked
    expect(detail.locator(".reason-form")).to_have_count(0)
    expect(pause).to_be_focused()
    page.keyboard.press("Enter")
    detail.get_by_role("button", name="Pause rollout").click()
    expect(detail.locator("#ro-action-reason-error")).to_contain_text("Say why")
    detail.get_by_label("Reason for pausing").fill("holiday freeze")
    accessible(page)
    detail.get_by_role("button", name="Pause rollout").click()
    expect(detail.locator(".panel-summary .badge")).to_have_text("paused")
    expect(row.locator(".badge")).to_have_text("paused")
    expect(row).to_contain_text("Paused: holiday freeze")
    history = detail.locator("table", has=page.locator("caption", has_text="Transitions"))
    expect(history.locator("tbody tr").first).to_contain_text("Paused")
    expect(history.locator("tbody tr").first).to_contain_text("holiday freeze")
    expect(detail.get_by_role("button", name="Resume", exact=True)).to_be_visible()
    expect(detail.get_by_role("button", name="Advance", exact=True)).to_have_count(0)
    shot(page, "23-rollout-paused", detail)


def test_refusals_show_the_keepers_message(page: Page, pond: LocalPond) -> None:
    test_id = start_test(pond, "refusals")
    with pond.client() as admin:
        viewer = admin.create_key("browser-viewer", "viewer").token
    sign_in(page, pond)
    open_page(page, pond, "Rollouts")
    page.get_by_role("button", name="Start a rollout").click()
    page.locator("#rollout-form").get_by_label("Test", exact=True).select_option(test_id)
    fill_stage(page, 1, "12", "1h")
    with pond.client() as admin:
        admin.stop_test(test_id, reason="stopped while the form was open")
    page.get_by_role("button", name="Start rollout").click()
    expect(page.locator("#ro-test-error")).to_contain_text("rollouts attach to running tests")  # the Keeper's 409
    expect(page.get_by_role("alert").filter(has_text="The Keeper refused the rollout")).to_be_visible()
    shot(page, "24-rollout-refused-409", page.locator("#rollout-form"))

    with pond.client() as admin:
        admin.resume_test(test_id)
        rollout = admin.start_rollout(test_id, [{"koi": 12, "hold": "1h"}, {"koi": 24, "hold": "1h"}])
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, pond, viewer)
    open_page(page, pond, "Rollouts")
    expect(page.get_by_role("button", name="Start a rollout")).to_be_hidden()  # a viewer cannot start one
    rollout_row(page, rollout.id).get_by_role("button", name="Open").click()
    detail = page.locator("#rollout-detail")
    expect(
        detail.get_by_text("Read-only: advancing, pausing, resuming and aborting need an operator key.")
    ).to_be_visible()
    expect(detail.get_by_role("button", name="Abort", exact=True)).to_be_hidden()
    shot(page, "25-rollout-read-only-for-viewers", detail)
    with pond.client() as admin:
        assert admin.show_rollout(rollout.id).status == "holding"


def test_a_deploy_posted_through_the_api_is_listed_as_pending(page: Page, pond: LocalPond) -> None:
    with pond.client() as admin:
        deploy = admin.record_deploy("chat-api", "build-42", soak="15m", baseline="30m")
    sign_in(page, pond)
    open_page(page, pond, "Deploys")
    page.get_by_label("Service").fill("chat-api")
    page.get_by_role("button", name="Show deploys").click()
    row = page.locator(f'tr[data-deploy-id="{deploy.id}"]')
    expect(row).to_contain_text("build-42")
    expect(row.locator(".badge").first).to_have_text("pending")
    expect(row).to_contain_text("no verdict yet")
    expect(row.locator(".soak-left")).to_contain_text("of soak left")
    row.get_by_role("button", name="Open").click()
    detail = page.locator("#deploy-detail")
    windows = detail.locator("table.windows")
    expect(windows.locator("tr", has_text="Baseline")).to_contain_text("30m")
    expect(windows.locator("tr", has_text="Soak")).to_contain_text("15m")
    expect(detail).to_contain_text("of soak left")
    expect(detail.locator(".empty")).to_contain_text("No SLI rows until the verdict")
    accessible(page)
    shot(page, "26-deploy-pending", detail)


def test_a_judged_deploy_shows_its_verdict_in_words_and_its_sli_rows(page: Page, pond: LocalPond) -> None:
    at = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    with pond.client() as admin:
        deploy = admin.record_deploy("judge-me", "build-7", at=at, soak="60s", baseline="5m")
    # One pass of the release tick, as the scheduled Lambda would run it: the soak ended 9 minutes ago.
    env = {**os.environ, **pond.component_env()}
    subprocess.run([str(Path(sys.executable).parent / "koipond"), "tick", "--once"], env=env, check=True, timeout=120)
    sign_in(page, pond)
    open_page(page, pond, "Deploys")
    page.get_by_label("Service").fill("judge-me")
    page.get_by_role("button", name="Show deploys").click()
    row = page.locator(f'tr[data-deploy-id="{deploy.id}"]')
    expect(row.locator(".badge").first).to_have_text("judged")
    verdict = row.locator(".verdict")
    outcome = verdict.get_attribute("data-outcome")
    assert outcome in {"pass", "fail", "inconclusive"}
    expect(verdict).to_contain_text(outcome)  # the verdict in words, not colour alone
    row.get_by_role("button", name="Open").click()
    detail = page.locator("#deploy-detail")
    expect(detail.locator(".verdict-reason")).to_contain_text("Why:")
    with pond.client() as admin:
        judged = admin.deploy(deploy.id)
    sli_rows = detail.locator("tr[data-sli]")
    expect(sli_rows).to_have_count(len(judged.verdict.rows if judged.verdict else []))
    accessible(page)
    shot(page, "28-deploy-judged", detail)


def test_notifications_list_the_rollouts_notifications(page: Page, pond: LocalPond) -> None:
    test_id = start_test(pond, "notify-me")
    with pond.client() as admin:
        rollout = admin.start_rollout(test_id, [{"koi": 11, "hold": "1h"}])
        admin.rollout_action(rollout.id, "pause", "notification check")
    # The transitions' history events are their notification intents: one release tick puts them in the outbox.
    env = {**os.environ, **pond.component_env()}
    subprocess.run([str(Path(sys.executable).parent / "koipond"), "tick", "--once"], env=env, check=True, timeout=120)
    sign_in(page, pond)
    open_page(page, pond, "Notifications")
    rows = page.locator("#notifications-list tbody tr")
    paused = rows.filter(has_text="notification check")
    expect(paused.first).to_contain_text("rollout_paused")
    expect(paused.first.locator(".badge")).to_have_text("no route")
    expect(rows.filter(has_text="rollout_stage_started").first).to_be_visible()
    page.get_by_label("Kind").select_option("rollout_paused")
    expect(rows.first).to_contain_text("rollout_paused")
    expect(rows.filter(has_text="rollout_stage_started")).to_have_count(0)
    accessible(page)
    shot(page, "27-notifications-rollout-paused")
    page.get_by_label("Status").select_option("delivered")
    expect(page.locator("#notifications-list .empty")).to_have_text("No notifications match these filters.")
