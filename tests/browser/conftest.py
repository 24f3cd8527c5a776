"""The web console in Debian's headless Chromium (driven by Playwright) against a local pond."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, Locator, Page, Playwright, sync_playwright

from local_pond.pond import LocalPond, PondConfig

CHROMIUM = Path(os.environ.get("KOIPOND_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LAPTOP = {"width": 1366, "height": 768}
T = TypeVar("T")


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run `make system-deps` (installs Debian's chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    """One small pond: a School of 200 koi polling every second, Prometheus scraping every second."""
    config = PondConfig(
        state_dir=tmp_path_factory.mktemp("browser-pond"),
        poll_interval_seconds=1.0,
        schools=1,
        school_capacity=200,
        koi_startup_spread_seconds=1.0,
        with_prometheus=True,
        scrape_seconds=1.0,
    )
    with LocalPond(config) as running:
        yield running


@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(playwright_instance: Playwright, chromium_path: Path) -> Iterator[Browser]:
    # Debian's Chromium, never a downloaded one; sandbox and GPU off for containers and CI.
    launched = playwright_instance.chromium.launch(
        executable_path=str(chromium_path),
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    )
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport=LAPTOP)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    ARTIFACTS.mkdir(exist_ok=True)
    opened.screenshot(path=str(ARTIFACTS / f"{request.node.name}-final.png"), full_page=True)  # the whole page
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def shot(page: Page, name: str, show: Locator | None = None) -> Path:
    """Save what a 1366x768 laptop screen shows (scrolled to ``show``) as a test artifact; print where it went."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if show is not None:
        show.scroll_into_view_if_needed()
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def sign_in(page: Page, pond: LocalPond, token: str | None = None) -> None:
    page.goto(f"{pond.keeper_url}/ui/")
    page.get_by_label("API token").fill(token or pond.config.admin_token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Pages").wait_for()


def wait_for(what: str, probe: Callable[[], T], done: Callable[[T], bool], timeout: float = 60.0) -> T:
    """Probe until ``done`` holds; fail naming ``what`` and the last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not done(value):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last value: {value!r}")
        time.sleep(0.25)
        value = probe()
    return value
