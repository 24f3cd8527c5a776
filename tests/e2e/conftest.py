"""A whole local pond as separate processes (embedded AWS + Keeper), shared by the e2e tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from koipond.pond.pond import LocalPond, PondConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    config = PondConfig(state_dir=tmp_path_factory.mktemp("pond"), poll_interval_seconds=1.0)
    with LocalPond(config) as running:
        yield running


def run_cli(
    pond: LocalPond, *args: str, token: str | None = None, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``koipond ARGS`` as a user would, against ``pond``."""
    env = {**os.environ, **pond.client_env(), "COLUMNS": "200", **(env_extra or {})}
    if token is not None:
        env["KOIPOND_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "koipond.cli.main", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
