"""``koipond run FILE`` against the bundled target, as a user runs it: exit codes, summaries, Ctrl-C, /metrics."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from koipond import metric_names as mn
from local_pond.processes import PondProcess, free_port
from slacklike_target.tokens import TokenAuthority
from tests.e2e.conftest import REPO

SECRET = "run-e2e-secret"
ADMIN = "run-e2e-admin"
WORKSPACE = "T-run"
# One call a second per koi per action, and channels shared enough that koi see each other's messages.
FAST = """\
schema_version: 1
description: a busy user, so a few seconds make calls of every action
actions:
  post_message:
    method: POST
    path: /api/chat.postMessage
    body: {channel: "{channel.id}", text: "{random.text}"}
    rate_per_hour: 3600
  read_history:
    method: GET
    path: /api/conversations.history
    params: {channel: "{channel.id}", limit: "20"}
    rate_per_hour: 3600
websocket: {enabled: true, path: /ws, reconnect_min_seconds: 1, reconnect_max_seconds: 10, ping_interval_seconds: 30}
channels: {count_per_koi: 25}
"""


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    args = ["target", "--host", "127.0.0.1", "--port", str(port), "--admin-token", ADMIN, "--secret", SECRET]
    url = f"http://127.0.0.1:{port}"
    process = PondProcess("target", args, {}, tmp_path_factory.mktemp("target") / "target.log", f"{url}/healthz")
    process.start()
    try:
        yield url
    finally:
        process.stop()


@pytest.fixture(scope="module")
def behavior(tmp_path_factory: pytest.TempPathFactory) -> Path:
    file = tmp_path_factory.mktemp("behaviors") / "fast.yaml"
    file.write_text(FAST)
    return file


def koipond(*args: str) -> list[str]:
    return [sys.executable, "-m", "koipond_cli.main", *args]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KOIPOND_TARGET_ADMIN_TOKEN"}
    return {**env, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        koipond(*args), env=environment(), cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        koipond(*args), env=environment(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float = 30) -> str:
    """The first line of the process's stderr holding ``needle`` (read as it comes)."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if needle in line:
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no {needle!r} on stderr; exit {process.poll()}")


def target_requests(url: str) -> float:
    exposition = httpx.get(f"{url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith(mn.TARGET_REQUESTS_TOTAL + "{") or line.startswith(mn.TARGET_REQUESTS_TOTAL + " ")
    )


def test_a_run_that_holds_its_thresholds_exits_0_and_serves_metrics_while_running(target: str, behavior: Path) -> None:
    process = start(
        "--json", "run", str(behavior), "--target", target, "--admin-token", ADMIN, "--koi", "20", "--for", "8s",
        "--ramp", "1s", "--threshold", "success_rate>=0.9", "--threshold", "p99<5s", "--metrics-port", "0",
    )  # fmt: skip
    line = wait_for_line(process, "metrics at ")
    metrics_url = line.split("metrics at ", 1)[1].strip()
    scraped = ""
    deadline = time.monotonic() + 8
    while f'{mn.SCHOOL_WEB_API_CALLS_TOTAL}{{method="post_message"' not in scraped and time.monotonic() < deadline:
        time.sleep(0.5)
        scraped = httpx.get(metrics_url, timeout=5).text
    stdout, stderr = process.communicate(timeout=40)
    assert f'{mn.SCHOOL_WEB_API_CALLS_TOTAL}{{method="post_message",status="ok"}}' in scraped
    assert mn.SCHOOL_WEBSOCKET_CONNECTS_TOTAL in scraped
    assert process.returncode == 0, stderr
    summary = json.loads(stdout)
    for action in ("conversations.join", "post_message", "read_history"):
        assert summary["actions"][action]["requests"] > 0, action
    assert summary["total"]["success_rate"] >= 0.9
    assert summary["websocket"]["connects"] >= 20
    assert [t["passed"] for t in summary["thresholds"]] == [True, True]
    assert summary["passed"] is True
    assert summary["stopped_early"] is False
    assert ADMIN not in stdout + stderr


def test_a_failed_threshold_exits_1_and_says_by_how_much(target: str, behavior: Path, tmp_path: Path) -> None:
    exported = tmp_path / "summary.json"
    result = run(
        "run", str(behavior), "--target", target, "--admin-token", ADMIN, "--koi", "10", "--for", "3s",
        "--ramp", "1s", "--threshold", "p99<0.001ms", "--threshold", "success_rate>=0.9",
        "--summary-file", str(exported),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    summary = json.loads(exported.read_text())  # the table on stdout, the same run as JSON in the file
    assert [t["passed"] for t in summary["thresholds"]] == [False, True]
    assert summary["total"]["requests"] > 0
    assert "FAIL" in result.stdout
    failed = next(line for line in result.stdout.splitlines() if "p99<0.001ms" in line)
    assert failed.startswith("FAIL")
    assert "over the limit of 1 µs" in failed
    assert "PASS    success_rate>=0.9" in result.stdout
    assert "1 of 2 thresholds failed" in result.stdout


@pytest.mark.parametrize(
    ("threshold", "named"),
    [("p99<<5", "'<<' is not a comparison"), ("chat.postMessage:p99<300ms", "no action 'chat.postMessage'")],
)
def test_a_usage_error_exits_2_naming_it_before_any_koi_swims(
    target: str, behavior: Path, threshold: str, named: str
) -> None:
    before = target_requests(target)
    result = run("run", str(behavior), "--target", target, "--admin-token", ADMIN, "--threshold", threshold)
    assert result.returncode == 2
    assert named in result.stderr
    assert result.stdout == ""
    assert target_requests(target) == before  # not even a token was minted


def test_a_summary_file_in_a_missing_directory_is_a_usage_error(target: str, behavior: Path, tmp_path: Path) -> None:
    result = run("run", str(behavior), "--target", target, "--admin-token", ADMIN,
                 "--summary-file", str(tmp_path / "absent" / "summary.json"))  # fmt: skip
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_no_token_source_is_a_usage_error_naming_the_three_ways(target: str, behavior: Path) -> None:
    result = run("run", str(behavior), "--target", target)
    assert result.returncode == 2
    for way in ("--admin-token", "--tokens FILE", "--token-bucket NAME"):
        assert way in result.stderr


def test_sigint_stops_the_koi_and_still_prints_the_summary(target: str, behavior: Path) -> None:
    process = start(
        "run", str(behavior), "--target", target, "--admin-token", ADMIN, "--koi", "10", "--for", "60s",
        "--ramp", "0", "--threshold", "requests>=1",
    )  # fmt: skip
    wait_for_line(process, "Ctrl-C stops early")
    time.sleep(2)
    began = time.monotonic()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - began < 15
    assert process.returncode == 0, stderr  # the threshold's verdict, not the signal's
    assert "stopped early after" in stdout
    assert "(SIGINT)" in stdout
    assert "PASS    requests>=1" in stdout


def test_tokens_from_a_file_run_without_minting(target: str, behavior: Path, tmp_path: Path) -> None:
    authority = TokenAuthority(SECRET)
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("".join(f"{authority.mint(WORKSPACE, i)}\n" for i in range(5)))
    result = run(
        "run", str(behavior), "--target", target, "--tokens", str(tokens), "--koi", "5", "--for", "3s",
        "--ramp", "0", "--json", "--threshold", "success_rate>=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["total"]["requests"] > 0
    assert summary["total"]["failures"] == 0
    assert authority.mint(WORKSPACE, 0) not in result.stdout + result.stderr


def test_too_few_tokens_in_the_file_is_a_usage_error_naming_how_many(
    target: str, behavior: Path, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("".join(f"{TokenAuthority(SECRET).mint(WORKSPACE, i)}\n" for i in range(3)))
    result = run("run", str(behavior), "--target", target, "--tokens", str(tokens), "--koi", "5")
    assert result.returncode == 2
    assert "2 missing" in result.stderr


def test_on_a_terminal_the_live_view_refreshes_and_the_summary_follows(target: str, behavior: Path) -> None:
    """Under a pseudo-terminal (as a person runs it): frames of the live view, then the summary."""
    primary, secondary = pty.openpty()
    env = {**environment(), "COLUMNS": "120", "LINES": "40", "TERM": "xterm"}
    args = koipond("run", str(behavior), "--target", target, "--admin-token", ADMIN, "--koi", "5", "--for", "4s",
                   "--ramp", "0", "--threshold", "p99<5s")  # fmt: skip
    process = subprocess.Popen(args, env=env, cwd=REPO, stdout=secondary, stderr=secondary, stdin=subprocess.DEVNULL)
    os.close(secondary)
    screen = b""
    try:
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the run ended and closed its end of the terminal
                break
            if not chunk:
                break
            screen += chunk
    finally:
        os.close(primary)
        assert process.wait(timeout=30) == 0
    text = screen.decode("utf-8", "replace")
    elapsed = set(re.findall(r"(\d:\d\d) / 0:04   koi", text))  # each frame's title: "0:02 / 0:04   koi 5/5 ..."
    assert len(elapsed) >= 3, text  # refreshed each second
    assert "\x1b[" in text  # drawn with terminal control sequences, redrawn in place
    assert "req/s" in text
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # without the colours and cursor moves
    assert re.search(r"PASS +p99<5s", plain)  # the summary, after the live view
