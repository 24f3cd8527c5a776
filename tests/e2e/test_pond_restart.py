"""A persistent local pond survives its own restart: stopped or killed -9 whole, or its embedded AWS alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from koipond.api.tokens import TokenJobOut
from local_pond.pond import LocalPond, PondConfig
from local_pond.processes import free_port
from tests.e2e.conftest import REPO
from tests.e2e.school_probe import samples, wait_for
from tests.e2e.test_school import BUSY

KOI = 12
ADMIN = "restart-e2e-admin"
BURST = 15  # acknowledged writes made just before a kill -9


def persistent_pond(state_dir: Path, snapshot_seconds: float = 2.0) -> LocalPond:
    """One School, polling every second; every start gets a new AWS key pair (the data must not depend on it).

    The ports are kept in the state dir, as `koipond up`'s fixed defaults would be: a test's target URL must
    still be the bundled target's (the only origin a School mints tokens at) after the restart.
    """
    ports_file = state_dir / "ports.json"
    if not ports_file.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        ports_file.write_text(json.dumps({name: free_port() for name in ("aws_port", "keeper_port", "target_port")}))
    config = PondConfig(
        **json.loads(ports_file.read_text()),
        state_dir=state_dir,
        persistent=True,
        admin_token=ADMIN,
        schools=1,
        school_capacity=100,
        poll_interval_seconds=1.0,
        koi_startup_spread_seconds=0.5,
        with_token_worker=True,
        aws_snapshot_seconds=snapshot_seconds,
    )
    return LocalPond(config)


def koi_running(pond: LocalPond, test_id: str, koi: int = KOI) -> None:
    wait_for(
        f"{koi} koi of {test_id} running on school-1",
        lambda: samples(pond.school_metrics_urls[0]).get(f'koi_pond_school_koi{{test="{test_id}"}}', 0.0),
        lambda running: running == koi,
        timeout=60,
    )


def start_running_test(pond: LocalPond) -> str:
    with pond.client() as admin:
        admin.put_behavior("busy", BUSY)
        test = admin.start_test(name="survivor", target=pond.target_url, behavior="busy", workspace="e2e", koi=KOI)
        admin.update_test(test.id, shed_percent=0, reason="a history event of ours")
        admin.create_key("restart ci", "operator")
    koi_running(pond, test.id)
    return test.id


def token_job_done(pond: LocalPond, job_id: str) -> TokenJobOut:
    with pond.client() as admin:
        return wait_for("the token job", lambda: admin.token_job(job_id), lambda j: j.status == "done", timeout=90)


def shard_keys(pond: LocalPond) -> list[str]:
    listing = pond.aws_client("s3").list_objects_v2(Bucket="koipond-tokens", Prefix="tokens/")
    return sorted(entry["Key"] for entry in listing.get("Contents", []))


def kept_state(pond: LocalPond, test_id: str) -> dict[str, Any]:
    """What must survive: the test as configured, its history, keys and behaviors."""
    with pond.client() as admin:
        test = admin.show_test(test_id)
        return {
            "test": test.model_dump(include={"id", "name", "status", "koi", "behavior", "target"}),
            "events": admin.test_events(test_id),
            "keys": sorted((key.id, key.name, key.role) for key in admin.list_keys()),
            "behaviors": sorted((b.name, b.version) for b in admin.list_behaviors()),
        }


def assert_nothing_lost(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert after["test"] == before["test"]
    assert after["test"]["status"] == "running"
    assert after["events"][: len(before["events"])] == before["events"]  # history intact, maybe more since
    assert after["keys"] == before["keys"]  # the restarted pond's Schools reuse their stored key
    assert after["behaviors"] == before["behaviors"]


def test_a_stopped_pond_starts_again_with_its_test_running_and_its_history(tmp_path: Path) -> None:
    with persistent_pond(tmp_path) as pond:
        test_id = start_running_test(pond)
        with pond.client() as admin:
            job_id = admin.create_token_job("shards", pond.target_url, 0, 250).id
        job = token_job_done(pond, job_id)
        before = {**kept_state(pond, test_id), "job": job, "shards": shard_keys(pond)}
    assert (tmp_path / "aws" / "snapshot.pickle").exists()

    with persistent_pond(tmp_path) as pond:
        after = kept_state(pond, test_id)
        assert_nothing_lost(before, after)
        with pond.client() as admin:
            assert admin.token_job(job.id) == job
        assert shard_keys(pond) == before["shards"]
        assert len(before["shards"]) == 3
        koi_running(pond, test_id)


def test_a_pond_killed_outright_loses_no_acknowledged_write(tmp_path: Path) -> None:
    # No periodic snapshot in this run: everything after provisioning must come back from the journal.
    with persistent_pond(tmp_path, snapshot_seconds=3600) as pond:
        test_id = start_running_test(pond)
        sqs, s3 = pond.aws_client("sqs"), pond.aws_client("s3")
        queue = sqs.create_queue(QueueName="restart-probe")["QueueUrl"]
        with pond.client() as admin:
            for i in range(BURST):  # as fast as they go: most land after the last snapshot
                admin.create_key(f"burst {i}", "viewer")
                admin.put_behavior(f"burst-{i}", BUSY)
                sqs.send_message(QueueUrl=queue, MessageBody=f"message {i}")
                s3.put_object(Bucket="koipond-tokens", Key=f"burst/{i}.json", Body=b"{}")
            admin.update_test(test_id, koi=KOI + 1, reason="the last change before the crash")
            job_id = admin.create_token_job("crash", pond.target_url, 0, 250).id  # 3 batches, queued
        before = kept_state(pond, test_id)
        for process in pond.processes:
            process.kill()  # kill -9: no process gets to snapshot or flush anything
    assert (tmp_path / "aws" / "journal").stat().st_size > 0

    with persistent_pond(tmp_path) as pond:
        after = kept_state(pond, test_id)
        lost_keys = {f"burst {i}" for i in range(BURST)} - {name for _id, name, _role in after["keys"]}
        lost_behaviors = {f"burst-{i}" for i in range(BURST)} - {name for name, _version in after["behaviors"]}
        sqs, s3 = pond.aws_client("sqs"), pond.aws_client("s3")
        queue = sqs.get_queue_url(QueueName="restart-probe")["QueueUrl"]
        depth = int(
            sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"][
                "ApproximateNumberOfMessages"
            ]
        )
        objects = s3.list_objects_v2(Bucket="koipond-tokens", Prefix="burst/").get("KeyCount", 0)
        assert (lost_keys, lost_behaviors, BURST - depth, BURST - objects) == (set(), set(), 0, 0)
        assert_nothing_lost(before, after)
        koi_running(pond, test_id, KOI + 1)
        # Its batches come back from the journal (a batch done just before the kill may run again: no matter).
        job = token_job_done(pond, job_id)
        assert (job.batches_done, job.batches_failed) == (3, 0)


def test_the_embedded_aws_killed_alone_comes_back_on_its_port_and_the_pond_carries_on(tmp_path: Path) -> None:
    with persistent_pond(tmp_path) as pond:
        test_id = start_running_test(pond)
        before = kept_state(pond, test_id)
        aws_url = pond.aws_url

        pond.restart_aws(crash=True)

        assert pond.aws_url == aws_url
        assert_nothing_lost(before, kept_state(pond, test_id))
        with pond.client() as admin:  # the Keeper writes again, and the School hears of it
            admin.update_test(test_id, koi=KOI + 2, reason="after the embedded AWS came back")
        koi_running(pond, test_id, KOI + 2)
        pond.restart_aws()  # a clean stop too
        assert kept_state(pond, test_id)["test"]["koi"] == KOI + 2


def test_up_documents_where_state_lives_and_how_to_keep_none() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "koipond_cli.main", "up", "--help"],
        env={**os.environ, "COLUMNS": "200"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for documented in ("--state-dir", "--ephemeral", "admin-token", "kill -9"):
        assert documented in help_text
