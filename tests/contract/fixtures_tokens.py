"""The token and notification ports, each as its real adapter on the embedded AWS and in memory, for contract tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import pytest

from koipond.aws_clients import AwsClients, aws_client
from koipond.clock import FixedClock
from koipond.settings import Settings
from koipond.store.table import DynamoTable
from koipond.tokens.models import TokenJob, TokenQueueMessage, parse_queue_message
from koipond.tokens.ports import TokenQueue
from local_pond.aws import provision

IMPLEMENTATIONS = ["aws", "memory"]
# Small, so a message reaches the dead-letter queue after a few receives.
MAX_RECEIVES = 2


def dynamo_table(request: pytest.FixtureRequest) -> DynamoTable:
    """A fresh table on the embedded DynamoDB (started only for the ``aws`` flavour)."""
    settings: Settings = request.getfixturevalue("settings")
    return DynamoTable(request.getfixturevalue("dynamodb"), settings.table_name)


def token_settings(request: pytest.FixtureRequest) -> Settings:
    """Settings naming a fresh queue, DLQ, bucket and KMS key, provisioned as the pond does."""
    request.getfixturevalue("dynamodb")  # starts the embedded AWS for this module
    settings: Settings = request.getfixturevalue("settings")
    name = f"tokens-{uuid.uuid4().hex[:8]}"
    configured = settings.model_copy(
        update={
            "token_queue_name": name,
            "token_dlq_name": f"{name}-dlq",
            "token_bucket": name,
            "token_kms_alias": f"alias/{name}",
        }
    )
    provision(configured, max_receive_count=MAX_RECEIVES)
    return configured


def new_job(clock: FixedClock, job_id: str = "tj-1", batches: int = 3, **changes: Any) -> TokenJob:
    now = clock.now()
    job = TokenJob(
        id=job_id,
        workspace="pond",
        target="http://target.test",
        start=0,
        end=batches * 100,
        batches_total=batches,
        batches_queued=batches,
        created_at=now,
        created_by="operator",
        expires_at=now + timedelta(days=1),
    )
    return job.model_copy(update=changes)


@dataclass(frozen=True)
class Delivery:
    receipt_handle: str
    message: TokenQueueMessage | None
    receive_count: int


class QueueHarness(Protocol):
    """A :class:`TokenQueue` and the event source's side of it (what Lambda's SQS mapping does on AWS)."""

    queue: TokenQueue

    def receive(self, visibility_timeout: int = 30) -> list[Delivery]: ...

    def delete(self, receipt_handle: str) -> None: ...


@dataclass
class SqsHarness:
    queue: TokenQueue
    sqs: Any
    url: str

    def receive(self, visibility_timeout: int = 30) -> list[Delivery]:
        answer = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=visibility_timeout,
            WaitTimeSeconds=0,
            AttributeNames=["ApproximateReceiveCount"],
        )
        return [
            Delivery(
                m["ReceiptHandle"],
                parse_queue_message(m["Body"]),
                int(m["Attributes"]["ApproximateReceiveCount"]),
            )
            for m in answer.get("Messages", [])
        ]

    def delete(self, receipt_handle: str) -> None:
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=receipt_handle)


@dataclass
class MemoryHarness:
    queue: Any  # an InMemoryTokenQueue

    def receive(self, visibility_timeout: int = 30) -> list[Delivery]:
        return [
            Delivery(r.receipt_handle, r.message, r.receive_count)
            for r in self.queue.receive(visibility_timeout=visibility_timeout)
        ]

    def delete(self, receipt_handle: str) -> None:
        self.queue.delete(receipt_handle)


def sqs_harness(request: pytest.FixtureRequest) -> SqsHarness:
    from koipond.tokens.queue import SqsTokenQueue

    settings = token_settings(request)
    sqs = aws_client("sqs", settings)
    queue = SqsTokenQueue(AwsClients(settings), settings.token_queue_name, settings.token_dlq_name)
    return SqsHarness(queue, sqs, sqs.get_queue_url(QueueName=settings.token_queue_name)["QueueUrl"])
