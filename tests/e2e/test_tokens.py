"""The token pipeline on a real pond: CLI job with progress, a poisoned batch to the DLQ, redrive, Schools
reading shards, and no token value anywhere in the pond's logs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic_core import to_jsonable_python

from koipond import envvars
from koipond.settings import Settings
from local_pond.pond import LocalPond, PondConfig
from tests.e2e.conftest import run_cli
from tests.e2e.school_probe import samples, wait_for
from tests.e2e.test_school import BUSY

# Tokens minted by the bundled target: xoxp-<workspace>-<index>-<32 hex>.
TOKEN = re.compile(r"xoxp-[A-Za-z0-9_-]+-\d+-[0-9a-f]{32}")


@pytest.fixture(scope="module")
def token_pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPond]:
    config = PondConfig(
        state_dir=tmp_path_factory.mktemp("token-pond"),
        poll_interval_seconds=1.0,
        schools=1,
        koi_startup_spread_seconds=0.5,
        with_token_worker=True,
        # Short retries so a poisoned batch reaches the DLQ (5 receives) in seconds, not minutes.
        env={"KOIPOND_TOKEN_BACKOFF_BASE_SECONDS": "1", "KOIPOND_TOKEN_BACKOFF_CAP_SECONDS": "2"},
    )
    with LocalPond(config) as pond:
        yield pond


def test_generate_with_the_cli_then_koi_swim_on_tokens_from_the_shards(token_pond: LocalPond) -> None:
    result = run_cli(token_pond, "--json", "tokens", "generate", "--workspace", "shards", "--users", "0-250",
                     "--target", token_pond.target_url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert (job["status"], job["batches_total"], job["batches_done"]) == ("done", 3, 3)
    with token_pond.client() as admin:
        admin.put_behavior("busy", BUSY)
        test = admin.start_test(
            name="on shards", target=token_pond.target_url, behavior="busy", workspace="shards", koi=250
        )
    metrics_url = token_pond.school_metrics_urls[0]
    wait_for("koi connected", lambda: samples(metrics_url)["koi_pond_school_websocket_connections"], lambda n: n == 250)
    assert "250 tokens of workspace shards from s3 shards" in token_pond.schools[0].log_path.read_text()
    with token_pond.client() as admin:
        admin.stop_test(test.id, "done")


def test_koipond_run_swims_on_tokens_read_from_the_shards(token_pond: LocalPond, tmp_path: Path) -> None:
    """``koipond run --token-bucket`` reads the pipeline's shards with the caller's credentials (no Keeper)."""
    result = run_cli(token_pond, "tokens", "generate", "--workspace", "run-shards", "--users", "0-10",
                     "--target", token_pond.target_url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    behavior = tmp_path / "busy.json"
    behavior.write_text(json.dumps(BUSY))
    aws = {envvars.AWS_ENDPOINT: token_pond.aws_url, **token_pond.config.aws_key_pair.as_env()}
    bucket = Settings(aws_endpoint=token_pond.aws_url).token_bucket
    result = run_cli(token_pond, "run", str(behavior), "--json", "--target", token_pond.target_url,
                     "--token-bucket", bucket, "--workspace", "run-shards", "--koi", "10", "--for", "4s",
                     "--ramp", "0", "--threshold", "success_rate>=1", env_extra=aws)  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["total"]["requests"] >= 10  # every koi joined its channels with its own token at least
    assert summary["websocket"]["connects"] == 10
    assert not TOKEN.search(result.stdout + result.stderr)
    missing = run_cli(token_pond, "run", str(behavior), "--target", token_pond.target_url, "--token-bucket",
                      bucket, "--workspace", "run-shards", "--koi", "120", env_extra=aws)  # fmt: skip
    assert missing.returncode == 2  # shards hold whole hundreds (users 0-99): 100-119 have none, nothing swims
    assert "cannot get tokens for 120 koi" in missing.stderr


def test_a_poisoned_batch_lands_in_the_dlq_and_a_redrive_completes_the_job(token_pond: LocalPond) -> None:
    token_pond.target_faults("PUT", {"route": "admin.tokens.mint", "error_rate": 1.0, "status": 503})
    try:
        with token_pond.client() as admin:
            job = admin.create_token_job("poisoned", token_pond.target_url, 0, 100)
            job = wait_for(
                "the batch to fail", lambda: admin.token_job(job.id), lambda j: j.status == "failed", timeout=90
            )
            dlq = wait_for("the DLQ to hold it", admin.token_dlq, lambda d: d.depth >= 1, timeout=30)
    finally:
        token_pond.target_faults("DELETE")
    assert job.batches_failed == 1
    assert any(b.job_id == job.id and "503" in (b.last_error or "") for b in dlq.sample)
    redrive = run_cli(token_pond, "tokens", "redrive")
    assert redrive.returncode == 0, redrive.stderr
    with token_pond.client() as admin:
        done = wait_for("the redriven batch", lambda: admin.token_job(job.id), lambda j: j.status == "done", timeout=60)
    assert (done.batches_done, done.batches_failed) == (1, 0)


def test_no_token_value_appears_in_any_log_or_api_answer(token_pond: LocalPond) -> None:
    with token_pond.client() as admin:
        answers = json.dumps(
            to_jsonable_python([admin.token_jobs(), admin.token_dlq(), admin.list_tests(), admin.list_schools()])
        )
    logs = "".join(path.read_text(errors="replace") for path in token_pond.logs.glob("*.log"))
    assert "tokens of workspace" in logs, "the logs were not captured"
    assert not TOKEN.search(logs), TOKEN.search(logs)
    assert not TOKEN.search(answers)
    metrics = httpx.get(token_pond.school_metrics_urls[0], timeout=5).text
    assert not TOKEN.search(metrics)
