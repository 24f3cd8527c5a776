"""The Keeper's dependencies fail under a real pond: DynamoDB or SQS refused or answering 503.

Every component reaches the embedded AWS through a fault proxy (``PondConfig.aws_via``); the tests
take one service (or one DynamoDB operation) away, watch what the Keeper answers and what the School
does, heal it, and read the stored state directly from the embedded AWS, past the proxy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from koipond.api.client import KeeperApiError
from koipond.api.history import EventOut
from koipond.settings import Settings
from local_pond.fault_proxy import FaultProxy, Mode
from local_pond.pond import LocalPond, PondConfig
from local_pond.processes import free_port
from tests.e2e.school_probe import samples, wait_for
from tests.e2e.test_school import BUSY

FAILSAFE_SECONDS = 5
# The School's own timeout for a Keeper call (school_container.keeper_link.KeeperLink): a Keeper
# whose table is down must answer within it, not leave the School waiting.
SCHOOL_TIMEOUT_SECONDS = 10.0
KOI = 10
FAILED_POLLS = 'koi_pond_school_keeper_polls_total{outcome="failed"}'


@pytest.fixture(scope="module")
def faulty_pond(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalPond, FaultProxy]]:
    aws_port = free_port()
    proxy = FaultProxy(f"http://127.0.0.1:{aws_port}")
    config = PondConfig(
        state_dir=tmp_path_factory.mktemp("faulty-pond"),
        aws_port=aws_port,
        aws_via=proxy.start(),
        poll_interval_seconds=1.0,
        schools=1,
        koi_startup_spread_seconds=0.5,
        school_env={"KOIPOND_FAILSAFE_SECONDS": str(FAILSAFE_SECONDS)},
    )
    try:
        with LocalPond(config) as pond:
            with pond.client() as admin:
                admin.put_behavior("busy", BUSY)
            yield pond, proxy
    finally:
        proxy.stop()


@pytest.fixture
def pond(faulty_pond: tuple[LocalPond, FaultProxy]) -> Iterator[LocalPond]:
    yield faulty_pond[0]
    faulty_pond[1].set("pass")  # a failed test leaves no outage behind for the next


@pytest.fixture
def proxy(faulty_pond: tuple[LocalPond, FaultProxy]) -> FaultProxy:
    return faulty_pond[1]


def koi_running(pond: LocalPond) -> float:
    return samples(pond.school_metrics_urls[0])["koi_pond_school_koi"]


def failed_polls(pond: LocalPond) -> float:
    return samples(pond.school_metrics_urls[0]).get(FAILED_POLLS, 0.0)


def new_test(pond: LocalPond, name: str, koi: int = KOI) -> dict[str, Any]:
    return {"name": name, "target": pond.target_url, "behavior": "busy", "workspace": "faults", "koi": koi}


def people_events(events: list[EventOut]) -> list[EventOut]:
    """A test's events but the allocator's ``test_reallocated``, which it writes whenever koi move."""
    return [event for event in events if event.kind != "test_reallocated"]


def stored_test_ids(pond: LocalPond) -> set[str]:
    """Every test id the table holds anything of: its item (``TEST#id``) or its history (``HIST#id``)."""
    dynamodb = pond.aws_client("dynamodb")
    ids: set[str] = set()
    for page in dynamodb.get_paginator("scan").paginate(TableName=Settings().table_name, ProjectionExpression="pk"):
        for item in page["Items"]:
            prefix, _, rest = item["pk"]["S"].partition("#")
            if prefix in ("TEST", "HIST") and rest.startswith("lt-"):
                ids.add(rest)
    return ids


@pytest.mark.parametrize("mode", ["refuse", "503"])
def test_the_keeper_answers_503_store_unavailable_with_retry_after_while_dynamodb_is_down(
    pond: LocalPond, proxy: FaultProxy, mode: Mode
) -> None:
    proxy.set(mode, "dynamodb")
    calls = [
        ("GET", "/v1/tests", None),
        ("POST", "/v1/tests", new_test(pond, "during outage")),
        ("GET", "/v1/guard", None),
    ]
    headers = {"authorization": f"Bearer {pond.config.admin_token}"}
    # A timeout here (httpx raises) is the hang this test rules out.
    with httpx.Client(base_url=pond.keeper_url, headers=headers, timeout=SCHOOL_TIMEOUT_SECONDS) as http:
        for method, path, body in calls:
            started = time.monotonic()
            answer = http.request(method, path, json=body)
            took = time.monotonic() - started
            print(f"DynamoDB {mode}: {method} {path} -> {answer.status_code} in {took:.2f}s")
            assert answer.status_code == 503, answer.text
            error = answer.json()["error"]
            assert error["code"] == "store_unavailable"
            assert "table (DynamoDB) is unavailable; retry later" in error["message"]
            assert answer.headers["retry-after"] == "5"
        proxy.set("pass")
        assert http.get("/v1/tests").status_code == 200
    with pond.client() as admin:
        assert "during outage" not in {t.name for t in admin.list_tests()}


def test_a_school_keeps_its_koi_within_the_failsafe_stops_them_after_it_and_resumes_after_recovery(
    pond: LocalPond, proxy: FaultProxy
) -> None:
    with pond.client() as admin:
        test = admin.start_test(**new_test(pond, "kept through the outage"))
    try:
        wait_for("koi swimming", lambda: koi_running(pond), lambda n: n == KOI)
        failed_before = failed_polls(pond)
        proxy.set("refuse", "dynamodb")
        # The School's next poll gets a 503; the fail-safe counts from its last answered poll, and the
        # poll after this one comes at most 2 s later (backoff after one failure), well inside 5 s.
        wait_for("a failed poll", lambda: failed_polls(pond), lambda n: n > failed_before)
        assert koi_running(pond) == KOI, "koi stopped before the fail-safe time"
        # Load nobody can steer stops once the fail-safe time has passed without an answered poll.
        wait_for("the fail-safe stop", lambda: koi_running(pond), lambda n: n == 0, timeout=45)
        proxy.set("pass")
        # The test was never stopped in the Keeper: the School's next answered poll brings its koi back.
        wait_for("koi back after recovery", lambda: koi_running(pond), lambda n: n == KOI, timeout=60)
        with pond.client() as admin:
            assert admin.show_test(test.id).status == "running"
    finally:
        with pond.client() as admin:
            admin.stop_test(test.id, "dependency faults e2e done")


def test_a_write_that_fails_after_its_reads_leaves_the_stored_state_as_it_was(
    pond: LocalPond, proxy: FaultProxy
) -> None:
    """Only DynamoDB's TransactWriteItems fails: the requests below authenticate, read the emergency
    stop, the running tests and the behavior, and then fail at their one write. A test's creation (its
    item, its ``test_created`` event, the allocation's change counter) and a test's change (the new
    version and its event) are each one transaction, all or nothing: so after the 503 and after
    recovery, no trace of the new test is stored, and the changed test is as it was, history included.
    """
    with pond.client() as admin:
        kept = admin.start_test(**new_test(pond, "kept as it was", koi=1))
        events_before = admin.test_events(kept.id)
    ids_before = stored_test_ids(pond)
    proxy.set("503", "dynamodb", operation="TransactWriteItems")
    with pond.client() as admin:
        with pytest.raises(KeeperApiError) as created:
            admin.start_test(**new_test(pond, "half written"))
        with pytest.raises(KeeperApiError) as changed:
            admin.update_test(kept.id, koi=5, version=kept.version)
    for refused in (created.value, changed.value):
        assert (refused.status, refused.code) == (503, "store_unavailable"), refused.message
    proxy.set("pass")
    assert stored_test_ids(pond) == ids_before, "the refused creation left an item or an event behind"
    with pond.client() as admin:
        assert "half written" not in {t.name for t in admin.list_tests()}
        after = admin.show_test(kept.id)
        assert (after.version, after.koi) == (kept.version, kept.koi)
        assert people_events(admin.test_events(kept.id)) == people_events(events_before)
        admin.stop_test(kept.id, "dependency faults e2e done")


def queued_messages(pond: LocalPond) -> int:
    sqs = pond.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=Settings().token_queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.mark.parametrize("mode", ["refuse", "503", "slow"])
def test_a_token_job_created_while_sqs_is_down_is_a_503_and_a_failed_job_that_queued_nothing(
    pond: LocalPond, proxy: FaultProxy, mode: Mode
) -> None:
    """The job is stored first, then its plan is queued; when queueing fails the Keeper marks the job
    failed (``last_error`` says why) and answers 503 naming it: the job is finished, counts against
    nobody's cap, and put nothing on the queue. The same request after recovery makes a job that is
    queued (this pond runs no token worker, so its plan message waits on the queue).

    ``slow`` is an SQS that never answers: the Keeper's SQS calls time out in time for it to mark the
    job failed and answer within the CLI's 15 s (cut off at 29 s instead, the job stayed "planning").
    """
    queued_before = queued_messages(pond)
    proxy.set(mode, "sqs", delay_seconds=60)
    # KeeperClient's own timeout is the CLI's 15 s: running out of it fails this test.
    with pond.client() as admin:
        started = time.monotonic()
        with pytest.raises(KeeperApiError) as refused:
            admin.create_token_job("faults", pond.target_url, 0, 100)
        print(f"SQS {mode}: POST /v1/token-jobs -> {refused.value.status} in {time.monotonic() - started:.2f}s")
    error = refused.value
    assert (error.status, error.code) == (503, "store_unavailable")
    assert f"token job {error.details['job_id']}" in error.message
    proxy.set("pass")
    with pond.client() as admin:
        job = admin.token_job(error.details["job_id"])
        assert job.status == "failed"
        assert "queueing its plan failed" in job.last_error
        assert queued_messages(pond) == queued_before
        again = admin.create_token_job("faults", pond.target_url, 0, 100)
        assert admin.token_job(again.id).status == "planning"
    assert queued_messages(pond) == queued_before + 1
