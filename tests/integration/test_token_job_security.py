"""Issue 14: the mint token goes to allowed origins only, and one request cannot stall the Keeper.

The Keeper is the real handler (``Api``) and the worker is the real SQS handler fed by the local
event source, both over one in-process embedded AWS; a local HTTP listener stands in for a service
an operator controls and records every request it hears.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from koipond.aws_clients import AwsClients
from koipond.clock import FixedClock
from koipond.composition import build_keeper, injected_keeper
from koipond.composition.tokens import build_token_worker, injected_token_worker
from koipond.settings import Settings
from koipond.tokens.models import PlanMessage, ShardMessage, TokenJobStatus, parse_queue_message
from local_pond.aws import provision
from local_pond.lambda_http import LocalLambdaContext
from tests.conftest import Api, issue_token
from tests.integration.token_pipeline_harness import MAX_RECEIVES, FakeProvider, HighestJitter, Pipeline

MINT_SECRET = "mint-admin-secret-0123456789"
ALLOWED = "http://127.0.0.1:1"
MINT_SERVICE = "https://mint.example.com"


@dataclass
class Listener:
    """A local HTTP server that answers like a mint endpoint and remembers every request it heard."""

    url: str = ""
    heard: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def listener() -> Iterator[Listener]:
    heard = Listener()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            heard.heard.append({"path": self.path, "headers": dict(self.headers), "body": body})
            tokens = {str(i): f"stolen-{i}" for i in body.get("users", [])}
            answer = json.dumps({"ok": True, "tokens": tokens}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    heard.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield heard
    finally:
        server.shutdown()
        thread.join(5)


@dataclass
class SentMessages:
    """What went to SQS through one set of clients, by kind (a botocore hook, not a mock)."""

    batches: list[int] = field(default_factory=list)  # shard numbers, in order sent
    plans: list[int] = field(default_factory=list)  # plan steps' cursors

    def watch(self, aws: AwsClients) -> SentMessages:
        def record(params: dict[str, Any], **_: Any) -> None:
            for entry in params.get("Entries", [params]):
                message = parse_queue_message(entry["MessageBody"])
                if isinstance(message, ShardMessage):
                    self.batches.append(message.shard)
                elif isinstance(message, PlanMessage):
                    self.plans.append(message.queued)

        aws.sqs.meta.events.register("provide-client-params.sqs.SendMessageBatch", record)
        aws.sqs.meta.events.register("provide-client-params.sqs.SendMessage", record)
        return self

    @property
    def total(self) -> int:
        return len(self.batches) + len(self.plans)


@pytest.fixture
def token_settings(settings: Settings) -> Settings:
    """Fresh queues, bucket and key per test; ``ALLOWED`` and ``MINT_SERVICE`` are the only mint origins."""
    name = f"sec-{uuid.uuid4().hex[:8]}"
    configured = settings.model_copy(
        update={
            "token_queue_name": name,
            "token_dlq_name": f"{name}-dlq",
            "token_bucket": name,
            "token_kms_alias": f"alias/{name}",
            "token_backoff_base_seconds": 1,
            "token_mint_origins": f"{ALLOWED}, {MINT_SERVICE}",
            "token_mint_admin_token": SecretStr(MINT_SECRET),
        }
    )
    provision(configured, max_receive_count=MAX_RECEIVES)
    return configured


@dataclass
class Harness:
    api: Api
    keeper_sent: SentMessages
    settings: Settings
    dynamodb: Any
    clock: FixedClock

    def worker(self, provider: FakeProvider | None = None, **changes: Any) -> tuple[Pipeline, SentMessages]:
        """The token worker with its own settings (``changes``) and clients, injected for the handler."""
        settings = self.settings.model_copy(update=changes)
        aws = AwsClients(settings)
        sent = SentMessages().watch(aws)
        worker = build_token_worker(settings, self.dynamodb, aws, self.clock, provider, HighestJitter())
        return Pipeline(settings, worker, aws), sent


@pytest.fixture
def harness(token_settings: Settings, dynamodb: Any, clock: FixedClock) -> Iterator[Harness]:
    aws = AwsClients(token_settings)
    sent = SentMessages().watch(aws)
    with injected_keeper(build_keeper(token_settings, dynamodb, clock, aws)):
        yield Harness(Api(), sent, token_settings, dynamodb, clock)


def job_body(target: str, end: int = 250) -> dict[str, Any]:
    return {"workspace": "sec", "target": target, "users": {"start": 0, "end": end}}


# -- hole 1: the mint token goes to allowed origins only ----------------------------------------


def test_a_job_whose_target_is_not_an_allowed_origin_is_refused_and_its_listener_hears_nothing(
    harness: Harness, listener: Listener
) -> None:
    refused = harness.api.post("/v1/token-jobs", job_body(listener.url))

    assert refused.status == 403, refused.body
    assert refused.error_code == "mint_origin_not_allowed"
    assert refused.body["error"]["details"] == {"target_origin": listener.url, "allowed_origins": 2}
    assert "is not an allowed mint origin (2 allowed" in refused.body["error"]["message"]
    assert MINT_SECRET not in json.dumps(refused.body)
    assert harness.keeper_sent.total == 0
    assert harness.api.get("/v1/token-jobs").body["jobs"] == []
    pipeline, _ = harness.worker()
    pipeline.poll(wait_seconds=0)
    assert listener.heard == []


@pytest.mark.parametrize(
    "target",
    [
        "https://mint.example.com.evil.test",  # the allowed origin's text is a prefix of it
        "https://mint.example.co",  # it is a prefix of the allowed origin's text
        "https://xmint.example.com",
        "https://mint.example.com:8443",
        "http://mint.example.com",  # same host, other scheme (and port)
        "http://127.0.0.1:10",
        "https://127.0.0.1:1",
        "http://localhost:1",  # the same machine by another name is another origin
        "https://evil.test/https://mint.example.com",
    ],
)
def test_lookalike_targets_are_refused(harness: Harness, target: str) -> None:
    refused = harness.api.post("/v1/token-jobs", job_body(target))

    assert refused.status == 403, refused.body
    assert refused.error_code == "mint_origin_not_allowed"
    assert harness.keeper_sent.total == 0


@pytest.mark.parametrize(
    "target", ["https://mint.example.com@evil.test", "https://evil.test/?u=https://mint.example.com", "ftp://x"]
)
def test_targets_that_are_not_base_urls_are_refused(harness: Harness, target: str) -> None:
    refused = harness.api.post("/v1/token-jobs", job_body(target))

    assert refused.status in (400, 422), refused.body
    assert "target" in refused.body["error"]["message"]
    assert harness.keeper_sent.total == 0


@pytest.mark.parametrize(
    "target",
    [
        "https://mint.example.com",
        "HTTPS://MINT.Example.COM:443/",
        "https://mint.example.com/base",
        "http://127.0.0.1:1",
    ],
)
def test_the_same_origin_written_differently_is_allowed(harness: Harness, target: str) -> None:
    assert harness.api.post("/v1/token-jobs", job_body(target)).status == 201


def test_with_no_origins_configured_every_job_is_refused_saying_minting_is_disabled(
    token_settings: Settings, dynamodb: Any, clock: FixedClock
) -> None:
    unset = token_settings.model_copy(update={"token_mint_origins": ""})
    with injected_keeper(build_keeper(unset, dynamodb, clock)):
        refused = Api().post("/v1/token-jobs", job_body(ALLOWED))
    assert refused.status == 403
    assert "no mint origins are configured" in refused.body["error"]["message"]
    assert "KOIPOND_TOKEN_MINT_ORIGINS" in refused.body["error"]["message"]
    assert refused.body["error"]["details"]["allowed_origins"] == 0


def test_a_job_stored_before_its_origin_left_the_list_never_reaches_the_listener(
    harness: Harness, listener: Listener, token_settings: Settings, dynamodb: Any, clock: FixedClock
) -> None:
    # Stored while the listener was allowed (say, before an admin removed it), planned by a worker
    # that allowed it too, then minted by a worker that no longer does.
    then = token_settings.model_copy(update={"token_mint_origins": f"{ALLOWED}, {listener.url}"})
    with injected_keeper(build_keeper(then, dynamodb, clock)):
        created = Api().post("/v1/token-jobs", job_body(listener.url, end=100))
    assert created.status == 201, created.body
    planner, _ = harness.worker(token_mint_origins=then.token_mint_origins)
    with injected_token_worker(planner.worker):
        planner.worker.planner.step(PlanMessage(job_id=created.body["id"], queued=0))
    # And a batch message naming the listener put straight on the queue (a forged or stale one).
    planner.worker.batches._queue.send([ShardMessage.whole_shard("tj-forged", "sec", listener.url, 7)])

    pipeline, _ = harness.worker()  # the worker as configured now: the listener is not allowed
    with injected_token_worker(pipeline.worker):
        pipeline.drain_until(lambda: pipeline.dlq_depth() == 2, timeout=20)
        dlq = pipeline.worker.jobs.dlq()

    assert listener.heard == []
    assert {s.shard for s in dlq.sample} == {0, 7}
    assert all("is not an allowed mint origin" in (s.last_error or "") for s in dlq.sample if s.shard == 0)
    job = pipeline.job(created.body["id"])
    assert (job.status, job.batches_failed) == (TokenJobStatus.FAILED, 1)
    assert MINT_SECRET not in dlq.model_dump_json() + job.model_dump_json()


def test_a_job_stored_with_an_origin_no_longer_allowed_is_not_expanded(
    harness: Harness, listener: Listener, token_settings: Settings, dynamodb: Any, clock: FixedClock
) -> None:
    then = token_settings.model_copy(update={"token_mint_origins": listener.url})
    with injected_keeper(build_keeper(then, dynamodb, clock)):
        created = Api().post("/v1/token-jobs", job_body(listener.url, end=1000))
    pipeline, sent = harness.worker()

    with injected_token_worker(pipeline.worker):
        pipeline.drain_until(lambda: pipeline.dlq_depth() == 1, timeout=20)

    job = pipeline.job(created.body["id"])
    assert (job.batches_queued, job.plan_failed) == (0, True)
    assert "is not an allowed mint origin" in (job.last_error or "")
    assert sent.batches == []
    assert listener.heard == []
    [sample] = pipeline.worker.jobs.dlq().sample
    assert (sample.job_id, sample.shard) == (job.id, None)
    # Once an admin allows the origin again, a redrive resumes the plan where it stopped.
    allowed, _ = harness.worker(token_mint_origins=listener.url)
    with injected_token_worker(allowed.worker):
        assert allowed.worker.jobs.redrive("operator").shards_reset == 1
        assert allowed.job(job.id).status is TokenJobStatus.PLANNING
        allowed.drain_until(lambda: allowed.job(job.id).status is TokenJobStatus.DONE, timeout=30)
    assert len(listener.heard) == 10


def test_an_allowed_listener_does_receive_the_mint_token(harness: Harness, listener: Listener) -> None:
    """The control: the listener above would have heard the secret had it been allowed."""
    then = harness.settings.model_copy(update={"token_mint_origins": listener.url})
    with injected_keeper(build_keeper(then, harness.dynamodb, harness.clock)):
        created = Api().post("/v1/token-jobs", job_body(listener.url, end=100))
    pipeline, _ = harness.worker(token_mint_origins=listener.url)
    with injected_token_worker(pipeline.worker):
        pipeline.drain_until(lambda: pipeline.job(created.body["id"]).status is TokenJobStatus.DONE)
    [request] = listener.heard
    assert request["path"] == "/api/admin.tokens.mint"
    assert request["headers"]["Authorization"] == f"Bearer {MINT_SECRET}"


# -- hole 2: one request cannot stall the Keeper ---------------------------------------------------


def test_a_ten_million_user_job_returns_at_once_with_one_message_and_is_expanded_in_bounded_steps(
    harness: Harness,
) -> None:
    started = time.monotonic()
    created = harness.api.post("/v1/token-jobs", job_body(ALLOWED, end=10_000_000))
    took = time.monotonic() - started

    assert created.status == 201, created.body
    assert took < 2.0, f"the request took {took:.1f} s"
    assert harness.keeper_sent.plans == [0]
    assert harness.keeper_sent.batches == []
    body = created.body
    assert (body["status"], body["batches_total"], body["batches_queued"]) == ("planning", 100_000, 0)

    pipeline, sent = harness.worker(token_plan_step_batches=500)
    steps = [PlanMessage(job_id=body["id"], queued=0)]
    for number in range(1, 4):
        before = sent.total
        outcome = pipeline.worker.planner.step(steps[-1])
        assert outcome["outcome"] == "queued"
        assert sent.total - before == 500 + 1  # a bounded step: its batches and the next step
        steps.append(PlanMessage(job_id=body["id"], queued=sent.plans[-1]))
        shown = harness.api.get(f"/v1/token-jobs/{body['id']}").body
        assert (shown["status"], shown["batches_queued"]) == ("planning", 500 * number)
    assert sorted(sent.batches) == list(range(1_500))
    assert sent.plans == [500, 1_000, 1_500]


def test_more_users_than_the_cap_is_a_422_naming_the_cap(
    token_settings: Settings, dynamodb: Any, clock: FixedClock
) -> None:
    capped = token_settings.model_copy(update={"token_max_users_per_job": 5_000})
    with injected_keeper(build_keeper(capped, dynamodb, clock)):
        refused = Api().post("/v1/token-jobs", job_body(ALLOWED, end=5_001))
        accepted = Api().post("/v1/token-jobs", job_body(ALLOWED, end=5_000))
    assert refused.status == 422
    assert "at most 5,000 users" in refused.body["error"]["message"]
    assert refused.body["error"]["details"]["problems"][0]["path"] == "users"
    assert accepted.status == 201


def test_a_caller_with_too_many_running_jobs_gets_a_409_until_one_finishes(
    token_settings: Settings, dynamodb: Any, clock: FixedClock
) -> None:
    capped = token_settings.model_copy(update={"token_max_running_jobs": 2})
    pipeline_settings = capped
    with injected_keeper(build_keeper(capped, dynamodb, clock)):
        admin = Api()
        first = admin.post("/v1/token-jobs", job_body(ALLOWED, end=100)).body
        admin.post("/v1/token-jobs", job_body(ALLOWED, end=100))
        refused = admin.post("/v1/token-jobs", job_body(ALLOWED, end=100))
        other = admin.as_(issue_token(admin, "operator")).post("/v1/token-jobs", job_body(ALLOWED, end=100))

        assert refused.status == 409
        assert refused.error_code == "too_many_token_jobs"
        assert refused.body["error"]["details"] == {"running": 2, "max_running": 2}
        assert other.status == 201  # the cap is per caller

        worker = build_token_worker(
            pipeline_settings, dynamodb, AwsClients(pipeline_settings), clock, FakeProvider(), HighestJitter()
        )
        with injected_token_worker(worker):
            pipeline = Pipeline(pipeline_settings, worker, AwsClients(pipeline_settings))
            pipeline.drain_until(lambda: pipeline.job(first["id"]).status is TokenJobStatus.DONE)
        assert admin.post("/v1/token-jobs", job_body(ALLOWED, end=100)).status == 201


class WorkerDiedError(BaseException):
    """Stands for the process dying: nothing catches it, so nothing is deleted or recorded."""


def test_a_worker_dying_mid_expansion_resumes_from_the_cursor_and_mints_each_batch_once(
    harness: Harness,
) -> None:
    from lambdas.token_worker.handler import lambda_handler

    provider = FakeProvider()
    pipeline, sent = harness.worker(provider, token_plan_step_batches=25)
    created = harness.api.post("/v1/token-jobs", job_body(ALLOWED, end=6_000)).body  # 60 batches, 3 steps
    calls = {"n": 0}

    def die_on_the_second_send_of_the_second_step(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 6:  # step 1: 3 sends (10, 10, 5) and its next step; then step 2's second send
            raise WorkerDiedError

    pipeline.aws.sqs.meta.events.register("before-call.sqs.SendMessageBatch", die_on_the_second_send_of_the_second_step)
    with injected_token_worker(pipeline.worker):
        while True:
            messages = pipeline.sqs.receive_message(
                QueueUrl=pipeline.queue_url, MaxNumberOfMessages=1, AttributeNames=["All"], WaitTimeSeconds=1
            )["Messages"]
            event = {"Records": [_record(m, pipeline.queue_arn) for m in messages]}
            try:
                lambda_handler(event, LocalLambdaContext("token-worker", deadline_ms=time.time() * 1000 + 1000))
            except WorkerDiedError:
                # Lambda lets the visibility timeout (longer than the invocation) run out, then
                # delivers the message again; by then the step's in-progress record has expired.
                time.sleep(1.1)
                pipeline.sqs.change_message_visibility(
                    QueueUrl=pipeline.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0
                )
                break
            pipeline.sqs.delete_message(QueueUrl=pipeline.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        assert pipeline.job(created["id"]).batches_queued == 25  # it died between cursor moves
        pipeline.drain_until(lambda: pipeline.job(created["id"]).status is TokenJobStatus.DONE, timeout=60)

    job = pipeline.job(created["id"])
    assert (job.batches_queued, job.batches_done, job.batches_failed) == (60, 60, 0)
    assert sorted(shard for shard, _ in provider.calls) == list(range(60))  # each batch minted once
    assert 60 < len(sent.batches) <= 60 + 25  # the dead step's batches were queued again, nothing more
    assert sent.plans == [25, 50]
    assert pipeline.dlq_depth() == 0


def test_a_plan_step_delivered_twice_queues_its_batches_once(harness: Harness) -> None:
    from lambdas.token_worker.handler import lambda_handler

    provider = FakeProvider()
    pipeline, sent = harness.worker(provider, token_plan_step_batches=10)
    created = harness.api.post("/v1/token-jobs", job_body(ALLOWED, end=3_000)).body  # 30 batches, 3 steps
    [message] = pipeline.sqs.receive_message(QueueUrl=pipeline.queue_url, AttributeNames=["All"])["Messages"]
    event = {"Records": [_record(message, pipeline.queue_arn)]}

    with injected_token_worker(pipeline.worker):
        answers = [lambda_handler(event, LocalLambdaContext("token-worker")) for _ in range(2)]
        pipeline.sqs.delete_message(QueueUrl=pipeline.queue_url, ReceiptHandle=message["ReceiptHandle"])
        pipeline.drain_until(lambda: pipeline.job(created["id"]).status is TokenJobStatus.DONE, timeout=60)

    assert answers == [{"batchItemFailures": []}] * 2
    assert sent.batches == list(range(30))
    assert sent.plans == [10, 20]
    assert sorted(shard for shard, _ in provider.calls) == list(range(30))


def test_two_steps_holding_one_cursor_move_it_once(harness: Harness) -> None:
    """Below the idempotency layer, the cursor's conditional write alone stops a repeated step."""
    pipeline, sent = harness.worker(token_plan_step_batches=10)
    created = harness.api.post("/v1/token-jobs", job_body(ALLOWED, end=3_000)).body
    first = PlanMessage(job_id=created["id"], queued=0)
    real_advance = pipeline.worker.planner._jobs.advance_plan

    def another_delivery_moved_it_first(job_id: str, queued_from: int, queued_to: int) -> bool:
        assert real_advance(job_id, queued_from, queued_to)
        return real_advance(job_id, queued_from, queued_to)

    pipeline.worker.planner._jobs.advance_plan = another_delivery_moved_it_first  # type: ignore[method-assign]
    outcome = pipeline.worker.planner.step(first)

    assert outcome["outcome"] == "lost_race"
    assert sent.plans == []  # the loser sends no next step: the winner does
    assert pipeline.job(created["id"]).batches_queued == 10


def _record(message: Any, queue_arn: str) -> dict[str, Any]:
    from local_pond.token_worker import lambda_sqs_record

    return lambda_sqs_record(message, queue_arn, "us-east-1")
