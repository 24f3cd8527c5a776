"""``koipond up``: starts the pond, prints how to use it, and takes its children down on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from koipond.pond.processes import free_port
from tests.e2e.conftest import REPO


def test_up_prints_urls_and_token_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    aws_port, keeper_port = free_port(), free_port()
    env = {**os.environ, "KOIPOND_ADMIN_TOKEN": "e2e-admin", "COLUMNS": "200"}
    args = ["up", "--aws-port", str(aws_port), "--keeper-port", str(keeper_port), "--state-dir", str(tmp_path)]
    up = subprocess.Popen(
        [sys.executable, "-m", "koipond.cli.main", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        assert up.stdout is not None
        while not any("press Ctrl-C" in line for line in lines):
            line = up.stdout.readline()
            assert line, "koipond up exited early:\n" + "".join(lines)
            lines.append(line)
        output = "".join(lines)
        assert f"export KOIPOND_KEEPER_URL=http://127.0.0.1:{keeper_port}" in output
        assert "export KOIPOND_TOKEN=e2e-admin" in output
        tests = httpx.get(f"http://127.0.0.1:{keeper_port}/v1/behaviors", headers={"authorization": "Bearer e2e-admin"})
        assert {b["name"] for b in tests.json()["behaviors"]} >= {"average_user"}
        up.send_signal(signal.SIGINT)
        assert up.wait(timeout=30) == 0
    finally:
        up.kill()
    time.sleep(0.2)
    for port in (aws_port, keeper_port):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            raise AssertionError(f"port {port} still answers after Ctrl-C")
        except httpx.ConnectError:
            pass
