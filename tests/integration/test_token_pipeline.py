"""The token pipeline end to end on an in-process embedded AWS: queue, worker, S3 shards, DLQ and redrive."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from botocore.stub import Stubber
from pydantic import SecretStr

from koipond.aws_clients import AwsClients
from koipond.clock import FixedClock
from koipond.composition.tokens import IDEMPOTENCY_PK, build_token_worker, injected_token_worker
from koipond.errors import BadRequestError
from koipond.settings import Settings
from koipond.tokens.models import PlanMessage, ShardMessage, TokenJobStatus, parse_queue_message, shard_key
from koipond.tokens.shards import S3TokenShardStore
from local_pond.aws import provision
from local_pond.token_worker import lambda_sqs_event, run_token_worker
from tests.integration.token_pipeline_harness import (
    MAX_RECEIVES,
    FakeProvider,
    HighestJitter,
    Pipeline,
    bundled_target,
    fake_token,
    faults,
)

TARGET = "http://target.test:8800"


@pytest.fixture
def token_settings(settings: Settings, dynamodb: Any) -> Settings:
    """Settings naming fresh queues, bucket and key for each test, provisioned as the pond does."""
    name = f"tokens-{uuid.uuid4().hex[:8]}"
    configured = settings.model_copy(
        update={
            "token_queue_name": name,
            "token_dlq_name": f"{name}-dlq",
            "token_bucket": name,
            "token_kms_alias": f"alias/{name}",
            "token_backoff_base_seconds": 1,
            "token_ttl_seconds": 3600,
            "token_mint_origins": TARGET,
        }
    )
    provision(configured, max_receive_count=MAX_RECEIVES)
    return configured


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def pipeline(token_settings: Settings, dynamodb: Any, clock: FixedClock, provider: FakeProvider) -> Iterator[Pipeline]:
    aws = AwsClients(token_settings)
    worker = build_token_worker(token_settings, dynamodb, aws, clock, provider, HighestJitter())
    with injected_token_worker(worker):
        yield Pipeline(token_settings, worker, aws)


def test_a_poisoned_batch_backs_off_reaches_the_dlq_and_a_redrive_completes_the_job(
    pipeline: Pipeline, provider: FakeProvider
) -> None:
    provider.poisoned = {1}
    job = pipeline.worker.jobs.create_job("pond", TARGET, 0, 300, "operator")

    pipeline.drain_until(lambda: pipeline.dlq_depth() == 1)

    # Each failed receive hides the batch longer (1 s, then 2 s); the last one sends it to the DLQ at once.
    assert pipeline.visibility_timeouts == [1, 2, 0]
    first, second, third = provider.calls_for(1)
    assert second - first >= 1.0
    assert third - second >= 2.0
    failed = pipeline.job(job.id)
    assert (failed.batches_done, failed.batches_failed, failed.status) == (2, 1, TokenJobStatus.FAILED)
    assert failed.last_error == "the provider refuses shard 1"
    [sample] = pipeline.worker.jobs.dlq().sample
    assert (sample.job_id, sample.shard, sample.attempts) == (job.id, 1, MAX_RECEIVES)
    assert sample.last_error == "the provider refuses shard 1"

    provider.poisoned = set()
    redrive = pipeline.worker.jobs.redrive("operator")
    # moto lacks StartMessageMoveTask, so the service moved the message itself.
    assert (redrive.method, redrive.moved, redrive.shards_reset, redrive.remaining) == ("receive_send_delete", 1, 1, 0)
    assert pipeline.job(job.id).status is TokenJobStatus.RUNNING

    pipeline.drain_until(lambda: pipeline.job(job.id).status is TokenJobStatus.DONE)
    done = pipeline.job(job.id)
    assert (done.batches_done, done.batches_failed) == (3, 0)
    assert pipeline.dlq_depth() == 0
    store = S3TokenShardStore(pipeline.aws, pipeline.settings.token_bucket, pipeline.settings.token_kms_alias)
    for shard in range(3):
        head = pipeline.aws.s3.head_object(Bucket=pipeline.settings.token_bucket, Key=shard_key("pond", shard))
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == store.key_arn()
        document = store.get("pond", shard)
        assert document is not None
        assert document.tokens == {i: fake_token("pond", i) for i in range(shard * 100, shard * 100 + 100)}
    assert len(provider.calls_for(1)) == MAX_RECEIVES + 1


def test_a_redelivered_batch_is_minted_once(pipeline: Pipeline, provider: FakeProvider) -> None:
    from lambdas.token_worker.handler import lambda_handler

    job = pipeline.worker.jobs.create_job("pond", TARGET, 0, 100, "operator")
    assert pipeline.poll().deleted == 1  # the job's plan step, which queues its one batch
    messages = pipeline.sqs.receive_message(
        QueueUrl=pipeline.queue_url, AttributeNames=["All"], MessageAttributeNames=["All"]
    )["Messages"]
    event = lambda_sqs_event(messages, pipeline.queue_arn, "us-east-1")

    from local_pond.lambda_http import LocalLambdaContext

    answers = [lambda_handler(event, LocalLambdaContext("token-worker")) for _ in range(2)]

    assert answers == [{"batchItemFailures": []}] * 2
    assert len(provider.calls) == 1
    assert pipeline.job(job.id).batches_done == 1


def test_a_batch_already_done_is_not_minted_again_even_without_its_idempotency_record(
    pipeline: Pipeline, provider: FakeProvider, dynamodb: Any
) -> None:
    job = pipeline.worker.jobs.create_job("pond", TARGET, 0, 100, "operator")
    pipeline.drain_until(lambda: pipeline.job(job.id).status is TokenJobStatus.DONE)
    _forget_idempotency(dynamodb, pipeline.settings.table_name)

    pipeline.worker.batches.process(ShardMessage.whole_shard(job.id, "pond", TARGET, 0).model_dump())
    pipeline.worker.process_once(batch=ShardMessage.whole_shard(job.id, "pond", TARGET, 0).model_dump())

    assert len(provider.calls) == 1
    assert pipeline.job(job.id).batches_done == 1


def test_a_stored_shard_whose_done_mark_was_lost_is_counted_without_minting_again(
    pipeline: Pipeline, provider: FakeProvider, dynamodb: Any
) -> None:
    job = pipeline.worker.jobs.create_job("pond", TARGET, 0, 100, "operator")
    pipeline.drain_until(lambda: pipeline.job(job.id).status is TokenJobStatus.DONE)
    # As if the S3 write succeeded and the DynamoDB write after it never happened.
    table = pipeline.settings.table_name
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": f"TOKENJOB#{job.id}"}, "sk": {"S": "SHARD#0000000"}})
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": f"TOKENJOB#{job.id}"}, "sk": {"S": "META"}},
        UpdateExpression="SET batches_done = :zero",
        ExpressionAttributeValues={":zero": {"N": "0"}},
    )
    _forget_idempotency(dynamodb, table)

    outcome = pipeline.worker.process_once(batch=ShardMessage.whole_shard(job.id, "pond", TARGET, 0).model_dump())

    assert outcome["outcome"] == "already_stored"
    assert len(provider.calls) == 1
    assert pipeline.job(job.id).status is TokenJobStatus.DONE


def test_no_token_reaches_logs_or_the_dlq_view_in_a_full_run_against_the_bundled_target(
    token_settings: Settings,
    dynamodb: Any,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lambdas.token_worker import handler

    powertools_logs = io.StringIO()
    captured = logging.StreamHandler(powertools_logs)
    captured.setFormatter(handler.logger.registered_formatter)
    handler.logger.addHandler(captured)
    handler.logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        with bundled_target() as target:
            settings = token_settings.model_copy(
                update={"token_mint_admin_token": SecretStr(target.admin_token), "token_mint_origins": target.url}
            )
            aws = AwsClients(settings)
            with injected_token_worker(build_token_worker(settings, dynamodb, aws, clock, rng=HighestJitter())) as w:
                pipeline = Pipeline(settings, w, aws)
                faults(target, "PUT", {"route": "admin.tokens.mint", "error_rate": 1.0, "status": 503})
                job = w.jobs.create_job("pond", target.url, 0, 200, "operator")
                pipeline.drain_until(lambda: pipeline.dlq_depth() == 2)
                dlq_view = w.jobs.dlq().model_dump_json()
                assert "HTTP 503: service_unavailable" in dlq_view

                faults(target, "DELETE")
                redrive = w.jobs.redrive("operator").model_dump_json()
                pipeline.drain_until(lambda: pipeline.job(job.id).status is TokenJobStatus.DONE)
                views = [dlq_view, redrive, pipeline.job(job.id).model_dump_json(), w.jobs.dlq().model_dump_json()]
                store = S3TokenShardStore(aws, settings.token_bucket, settings.token_kms_alias)
                stored = {**store.get("pond", 0).tokens, **store.get("pond", 1).tokens}  # type: ignore[union-attr]
    finally:
        handler.logger.removeHandler(captured)
        handler.logger.setLevel(logging.INFO)

    tokens = [target.authority.mint("pond", i) for i in range(200)]
    assert stored == dict(enumerate(tokens))  # the real target's tokens were minted and stored
    out = capsys.readouterr()
    everything = "\n".join([powertools_logs.getvalue(), caplog.text, out.out, out.err, *views])
    assert '"job_id": "' + job.id in powertools_logs.getvalue().replace('":"', '": "')
    assert "token batch stored" in powertools_logs.getvalue()
    leaked = [token for token in tokens if token in everything]
    assert leaked == []
    # Not even a token's secret part (its HMAC) shows up, nor the target's admin token.
    assert [t for t in tokens if t.rsplit("-", 1)[1] in everything] == []
    assert target.admin_token not in everything


def test_a_jobs_plan_queues_one_whole_shard_per_batch(pipeline: Pipeline) -> None:
    job = pipeline.worker.jobs.create_job("pond", TARGET, 150, 2_620, "operator")

    assert (job.batches_total, job.status) == (26, TokenJobStatus.PLANNING)
    bodies = []
    while len(bodies) < 26:
        answer = pipeline.sqs.receive_message(QueueUrl=pipeline.queue_url, MaxNumberOfMessages=10)
        for message in answer.get("Messages", []):
            body = parse_queue_message(message["Body"])
            if isinstance(body, PlanMessage):
                pipeline.worker.planner.step(body)
            else:
                assert isinstance(body, ShardMessage)
                bodies.append(body)
    assert pipeline.job(job.id).status is TokenJobStatus.RUNNING
    assert sorted(b.shard for b in bodies) == list(range(1, 27))
    assert all((b.start, b.end) == (b.shard * 100, b.shard * 100 + 100) for b in bodies)
    assert {b.job_id for b in bodies} == {job.id}
    assert pipeline.worker.jobs.list_jobs()[0].id == job.id


@pytest.mark.parametrize(
    ("workspace", "target", "start", "end", "problem"),
    [
        ("bad workspace!", TARGET, 0, 10, "workspace"),
        ("pond", "ftp://target.test", 0, 10, "target"),
        ("pond", TARGET, 10, 10, "non-empty range"),
        ("pond", TARGET, -1, 10, "non-empty range"),
        ("pond", TARGET, 0, 100_000_001, "non-empty range"),
        ("pond", TARGET, 0, 10_000_001, "at most 10,000,000"),
    ],
)
def test_bad_jobs_are_refused_and_nothing_is_queued(
    pipeline: Pipeline, workspace: str, target: str, start: int, end: int, problem: str
) -> None:
    with pytest.raises(BadRequestError, match=problem):
        pipeline.worker.jobs.create_job(workspace, target, start, end, "operator")
    assert pipeline.worker.jobs.list_jobs() == []
    attributes = pipeline.sqs.get_queue_attributes(QueueUrl=pipeline.queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_the_schedule_renews_expiring_tokens_once(pipeline: Pipeline, clock: FixedClock) -> None:
    from lambdas.token_worker.handler import schedule_handler
    from local_pond.lambda_http import LocalLambdaContext

    job = pipeline.worker.jobs.create_job("pond", TARGET, 0, 100, "operator")
    pipeline.drain_until(lambda: pipeline.job(job.id).status is TokenJobStatus.DONE)
    running = pipeline.worker.jobs.create_job("other", TARGET, 0, 100, "operator")  # never worked on
    assert pipeline.worker.jobs.reenqueue_expiring(600, "schedule") == []  # expires in an hour

    clock.advance(3600 - 300)
    pipeline.worker.jobs.reenqueue_expiring(0, "schedule")  # not yet within a zero horizon
    answer = schedule_handler({"horizon_seconds": 600}, LocalLambdaContext("token-schedule"))
    again = schedule_handler({"horizon_seconds": 600}, LocalLambdaContext("token-schedule"))

    [renewal] = answer["renewed"]
    assert renewal["renews"] == job.id
    assert again["renewed"] == []
    assert pipeline.job(job.id).renewed_by == renewal["job_id"]
    new = pipeline.job(renewal["job_id"])
    assert (new.workspace, new.start, new.end, new.created_by) == ("pond", 0, 100, "token-schedule")
    assert new.expires_at == new.created_at + timedelta(seconds=3600)
    assert pipeline.job(running.id).renewed_by is None  # not done: nothing to renew yet


def test_redrive_uses_sqs_message_move_task_where_sqs_has_it(pipeline: Pipeline, provider: FakeProvider) -> None:
    provider.poisoned = {0}
    job = pipeline.worker.jobs.create_job("pond", TARGET, 0, 100, "operator")
    pipeline.drain_until(lambda: pipeline.dlq_depth() == 1)
    queue_arn = pipeline.queue_arn
    dlq_arn = pipeline.queue_arn + "-dlq"

    # moto lacks the action, so this one call is stubbed (as real SQS would answer it).
    with Stubber(pipeline.aws.sqs_single_attempt) as sqs:
        sqs.add_response(
            "start_message_move_task",
            {"TaskHandle": "task-1"},
            {"SourceArn": dlq_arn, "DestinationArn": queue_arn},
        )
        result = pipeline.worker.jobs.redrive("operator")
    assert (result.method, result.task_handle, result.approximate_messages) == ("message_move_task", "task-1", 1)

    # What the move task then does: the batch reaches the queue again, still counted failed until it succeeds.
    provider.poisoned = set()
    _move_by_hand(pipeline)
    assert pipeline.job(job.id).status is TokenJobStatus.FAILED
    pipeline.drain_until(lambda: pipeline.job(job.id).status is TokenJobStatus.DONE)
    assert (pipeline.job(job.id).batches_done, pipeline.job(job.id).batches_failed) == (1, 0)


def test_the_local_event_source_builds_lambdas_sqs_event(pipeline: Pipeline) -> None:
    pipeline.worker.jobs.create_job("pond", TARGET, 0, 100, "operator")
    messages = pipeline.sqs.receive_message(
        QueueUrl=pipeline.queue_url, AttributeNames=["All"], MessageAttributeNames=["All"]
    )["Messages"]

    event = lambda_sqs_event(messages, pipeline.queue_arn, "us-east-1")

    [record] = event["Records"]
    assert set(record) >= {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert record["messageAttributes"]["job_id"]["dataType"] == "String"
    parsed = next(SQSEvent(event).records)
    assert parsed.attributes.approximate_receive_count == "1"
    assert int(parsed.attributes.sent_timestamp) > 0
    assert int(parsed.attributes.approximate_first_receive_timestamp) > 0
    assert parsed.event_source == "aws:sqs"
    assert parsed.event_source_arn == pipeline.queue_arn
    assert parsed.message_attributes["job_id"].string_value  # type: ignore[union-attr]


def test_the_local_token_worker_runs_until_stopped(pipeline: Pipeline) -> None:
    from lambdas.token_worker.handler import lambda_handler

    job = pipeline.worker.jobs.create_job("pond", TARGET, 0, 300, "operator")
    stop = threading.Event()
    thread = threading.Thread(target=run_token_worker, args=(pipeline.settings, stop, 1, lambda_handler))
    thread.start()
    try:
        deadline = 50
        while pipeline.job(job.id).status is not TokenJobStatus.DONE and deadline:
            stop.wait(0.1)
            deadline -= 1
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert pipeline.job(job.id).status is TokenJobStatus.DONE


def _forget_idempotency(dynamodb: Any, table: str) -> None:
    items = dynamodb.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": IDEMPOTENCY_PK}}
    )["Items"]
    assert items
    for item in items:
        dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})


def _move_by_hand(pipeline: Pipeline) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = sqs.get_queue_url(QueueName=pipeline.settings.token_dlq_name)["QueueUrl"]
    for message in sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]:
        sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"])
    assert json.loads(message["Body"])["shard"] == 0


def test_a_step_held_by_another_invocation_waits_for_it_without_failing_or_backing_off(pipeline: Pipeline) -> None:
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    from lambdas.token_worker.handler import lambda_handler
    from local_pond.lambda_http import LocalLambdaContext

    def held(**_: Any) -> dict[str, Any]:
        raise IdempotencyAlreadyInProgressError("Execution already in progress with idempotency key: plan")

    job = pipeline.worker.jobs.create_job("pond", TARGET, 0, 100, "operator")
    messages = pipeline.sqs.receive_message(
        QueueUrl=pipeline.queue_url, AttributeNames=["All"], MessageAttributeNames=["All"]
    )["Messages"]
    event = lambda_sqs_event(messages, pipeline.queue_arn, "us-east-1")

    with injected_token_worker(dataclasses.replace(pipeline.worker, plan_once=held)):
        answer = lambda_handler(event, LocalLambdaContext("token-worker"))

    assert answer == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    assert pipeline.visibility_timeouts == []  # hidden for the queue's whole visibility timeout, no backoff
    stored = pipeline.job(job.id)
    assert (stored.status, stored.last_error) == (TokenJobStatus.PLANNING, None)  # not failed: still to plan
