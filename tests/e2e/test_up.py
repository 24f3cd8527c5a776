"""``koipond up``: starts the pond, prints how to use it, and takes its children down on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from local_pond.processes import free_port
from tests.e2e.conftest import REPO


def start_up(tmp_path: Path, aws_port: int, keeper_port: int, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "KOIPOND_ADMIN_TOKEN": "e2e-admin", "COLUMNS": "200"}
    ports = ["--aws-port", str(aws_port), "--keeper-port", str(keeper_port), "--target-port", "0"]
    args = ["up", *ports, "--prometheus-port", "0", "--schools", "1", "--state-dir", str(tmp_path), *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "koipond_cli.main", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until_up(up: subprocess.Popen[str]) -> str:
    lines: list[str] = []
    assert up.stdout is not None
    while not any("press Ctrl-C" in line for line in lines):
        line = up.stdout.readline()
        assert line, "koipond up exited early:\n" + "".join(lines)
        lines.append(line)
    return "".join(lines)


def assert_closed(*ports: int, within: float = 15.0) -> None:
    """Every port stops answering within ``within`` seconds (children shut down on SIGTERM, not at once)."""
    deadline = time.monotonic() + within
    for port in ports:
        while _answers(port):
            if time.monotonic() > deadline:
                raise AssertionError(f"port {port} still answers after {within:g}s")
            time.sleep(0.2)


def _answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    except httpx.ConnectError:
        return False  # nobody listens any more
    except httpx.TransportError:
        return True  # still listening while it shuts down (drops the request)
    return True


def test_up_prints_urls_and_token_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    aws_port, keeper_port = free_port(), free_port()
    up = start_up(tmp_path, aws_port, keeper_port, "--school-workers", "2")
    try:
        output = wait_until_up(up)
        assert f"export KOIPOND_KEEPER_URL=http://127.0.0.1:{keeper_port}" in output
        assert "export KOIPOND_TOKEN=e2e-admin" in output
        school_metrics = re.search(r"school-1\s+(http://\S+)/metrics", output)
        assert school_metrics, output
        health = httpx.get(f"{school_metrics.group(1)}/healthz", timeout=5).json()
        assert len(health["workers"]) == 2  # --school-workers reached the School
        assert "Prometheus" in output
        behaviors = httpx.get(
            f"http://127.0.0.1:{keeper_port}/v1/behaviors", headers={"authorization": "Bearer e2e-admin"}
        )
        assert {b["name"] for b in behaviors.json()["behaviors"]} >= {"average_user"}
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=30) == 0
    finally:
        up.kill()
    assert_closed(aws_port, keeper_port)


def test_killing_up_outright_leaves_no_orphans(tmp_path: Path) -> None:
    aws_port, keeper_port = free_port(), free_port()
    up = start_up(tmp_path, aws_port, keeper_port)
    try:
        wait_until_up(up)
    finally:
        up.kill()  # SIGKILL: no chance to stop its children; the kernel tells them instead
        up.wait(timeout=10)
    assert_closed(aws_port, keeper_port)
