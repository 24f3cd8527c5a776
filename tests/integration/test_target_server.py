"""``koipond target`` as a real process: serves on uvloop, stops cleanly on SIGTERM, tokens survive restarts."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from click.testing import CliRunner

from koipond_cli.target_command import target_command
from local_pond.processes import free_port

ADMIN = "process-admin-token"
START_COMMAND = "from koipond_cli.target_command import target_command; target_command()"


@contextmanager
def target_process(port: int, secret: str) -> Iterator[str]:
    """A ``koipond target`` process on ``port``; stopped with SIGTERM, which must exit 0."""
    process = subprocess.Popen(
        [sys.executable, "-c", START_COMMAND, "--port", str(port), "--secret", secret, "--admin-token", ADMIN],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "target did not start"
            time.sleep(0.05)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=10)[0]
    assert process.returncode == 0, output
    assert f"target listening on {base} (uvloop)" in output


def auth_test(base: str, token: str) -> dict[str, object]:
    answer = httpx.post(f"{base}/api/auth.test", headers={"Authorization": f"Bearer {token}"}, timeout=5)
    body: dict[str, object] = answer.json()
    return body


def test_tokens_minted_before_a_restart_still_work_after_it() -> None:
    port = free_port()
    with target_process(port, "stable-secret") as base:
        minted = httpx.post(
            f"{base}/api/admin.tokens.mint",
            json={"workspace": "pond", "users": [3]},
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=5,
        ).json()
        token = minted["tokens"]["3"]
        assert auth_test(base, token)["user_id"] == "U00000003"
    with target_process(port, "stable-secret") as base:
        assert auth_test(base, token)["user_id"] == "U00000003"
    with target_process(port, "rotated-secret") as base:
        assert auth_test(base, token) == {"ok": False, "error": "invalid_auth"}


def test_the_command_documents_its_options() -> None:
    result = CliRunner().invoke(target_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--secret", "--admin-token", "--seed", "--ws-max-buffer-bytes"):
        assert option in result.output
    assert "KOIPOND_TARGET_ADMIN_TOKEN" in result.output
