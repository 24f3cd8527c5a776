"""Issue 14 on a real pond: the CLI cannot point the mint token at a listener, and a token worker killed
mid-expansion (SIGKILL) resumes its job's plan after a restart, minting each batch once."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from local_pond.pond import LocalPond, PondConfig
from tests.e2e.conftest import run_cli
from tests.e2e.school_probe import wait_for

STEP = 10
MINTS = re.compile(r'koi_pond_target_requests_total\{method="admin\.tokens\.mint",status="200"\} (\d+)')


@pytest.fixture(scope="module")
def token_pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    config = PondConfig(
        state_dir=tmp_path_factory.mktemp("token-security-pond"),
        with_target=True,
        with_token_worker=True,
        env={
            "KOIPOND_TOKEN_PLAN_STEP_BATCHES": str(STEP),
            "KOIPOND_TOKEN_BACKOFF_BASE_SECONDS": "1",
            "KOIPOND_TOKEN_BACKOFF_CAP_SECONDS": "2",
        },
    )
    with LocalPond(config) as pond:
        yield pond


@pytest.fixture
def listener() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    heard: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            heard.append({"path": self.path, "headers": dict(self.headers)})
            self.send_response(500)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", heard
    finally:
        server.shutdown()
        thread.join(5)


def test_the_cli_cannot_send_the_mint_token_to_a_listener(
    token_pond: LocalPond, listener: tuple[str, list[dict[str, Any]]]
) -> None:
    url, heard = listener
    result = run_cli(token_pond, "tokens", "generate", "--workspace", "steal", "--users", "0-100", "--target", url)

    assert result.returncode != 0
    assert "is not an allowed mint origin (1 allowed" in result.stderr
    assert token_pond.config.target_admin_token not in result.stdout + result.stderr
    with token_pond.client() as admin:
        assert [j for j in admin.token_jobs() if j.workspace == "steal"] == []
    assert heard == []


def test_a_worker_killed_mid_expansion_resumes_and_mints_each_batch_once(token_pond: LocalPond) -> None:
    worker = token_pond.token_worker
    assert worker is not None
    mints_before = _mints(token_pond)
    with token_pond.client() as admin:
        job = admin.create_token_job("resume", token_pond.target_url, 0, 30_000)  # 300 batches, 30 steps
        assert (job.status, job.batches_queued) == ("planning", 0)
        wait_for("a few plan steps", lambda: admin.token_job(job.id), lambda j: j.batches_queued >= 3 * STEP)
        worker.kill()
        killed_at = admin.token_job(job.id)
        worker.start_unchecked()
        # What the killed worker held comes back after the queue's visibility timeout (60 s).
        done = wait_for(
            "the job after a restart", lambda: admin.token_job(job.id), lambda j: j.status == "done", timeout=240
        )

    assert killed_at.status == "planning", killed_at
    assert killed_at.batches_queued < 300
    assert (done.batches_queued, done.batches_done, done.batches_failed) == (300, 300, 0)
    # At most the batches the killed worker had in hand were minted again (their results never stored).
    assert 300 <= _mints(token_pond) - mints_before <= 310


def _mints(pond: LocalPond) -> int:
    found = MINTS.search(httpx.get(f"{pond.target_url}/metrics", timeout=5).text)
    return int(found.group(1)) if found else 0
