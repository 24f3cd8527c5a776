"""A whole local pond as separate processes (embedded AWS + Keeper), shared by the e2e tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from koipond.api.notifications import NotificationOut
from local_pond.aws_guard import AwsKeyPair
from local_pond.pond import LocalPond, PondConfig
from local_pond.webhook_sink import WebhookSink

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    config = PondConfig(state_dir=tmp_path_factory.mktemp("pond"), poll_interval_seconds=1.0)
    with LocalPond(config) as running:
        yield running


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    """A local webhook sink standing in for Slack, one per test module."""
    with WebhookSink() as running:
        yield running


def notifications_of(pond: LocalPond, kind: str) -> list[NotificationOut]:
    """Every notification of ``kind`` the pond's Keeper holds, as the admin reads them."""
    with pond.client() as admin:
        return admin.notifications(kind=kind)


@contextmanager
def notifying_pond(state_dir: Path, sink: WebhookSink) -> Iterator[LocalPond]:
    """A pond whose release tick runs every second and routes every notification to ``sink``."""
    config = PondConfig(
        state_dir=state_dir, poll_interval_seconds=1.0, tick_every_seconds=1.0, notification_sink_url=sink.url
    )
    with LocalPond(config) as running:
        yield running


@contextmanager
def watched_pond(state_dir: Path, **overrides: Any) -> Iterator[LocalPond]:
    """One School polling every second, Prometheus scraping every second, and the ``busy`` behavior uploaded."""
    from tests.e2e.test_school import BUSY

    settings: dict[str, Any] = {
        "poll_interval_seconds": 1.0,
        "schools": 1,
        "koi_startup_spread_seconds": 0.5,
        "with_prometheus": True,
        "scrape_seconds": 1.0,
    }
    # Tests build Keepers and guards in this process too, signing with the suite's pair (tests/conftest.py).
    settings["aws_key_pair"] = AwsKeyPair.from_env(os.environ)
    with LocalPond(PondConfig(state_dir=state_dir, **{**settings, **overrides})) as pond:
        with pond.client() as admin:
            admin.put_behavior("busy", BUSY)
        yield pond


def run_cli(
    pond: LocalPond, *args: str, token: str | None = None, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``koipond ARGS`` as a user would, against ``pond``."""
    env = {**os.environ, **pond.client_env(), "COLUMNS": "200", **(env_extra or {})}
    if token is not None:
        env["KOIPOND_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "koipond_cli.main", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
