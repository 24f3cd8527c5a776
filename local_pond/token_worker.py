"""``koipond token-worker``: a local SQS event source that feeds the token worker Lambda handler.

It does what Lambda's event source mapping does for the worker: long-polls the queue, hands the
handler an SQS event shaped exactly like Lambda's, and deletes the messages the handler did not
report in ``batchItemFailures``; the others come back when the visibility timeout the handler set
runs out, and after the redrive policy's ``maxReceiveCount`` SQS moves them to the dead-letter queue.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
from botocore.config import Config

from koipond.aws_clients import DEFAULT_CONFIG, aws_client
from koipond.settings import Settings, get_settings
from local_pond.lambda_http import LocalLambdaContext, load_handler

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger("local_pond.token_worker")

WORKER_HANDLER = "lambdas.token_worker.handler:lambda_handler"
WORKER_FUNCTION = "koipond-token-worker"
# What an invocation may take, as the function's timeout would say (the queue's visibility is 60 s).
INVOCATION_SECONDS = 55
SqsHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class PollResult:
    received: int
    failed: int
    deleted: int


def lambda_sqs_record(message: MessageTypeDef, queue_arn: str, region: str) -> dict[str, Any]:
    """One ``Records`` entry of Lambda's SQS event, from a ReceiveMessage message."""
    attributes = dict(message.get("Attributes", {}))
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": {
            name: _lambda_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_attribute(value: Any) -> dict[str, Any]:
    """ReceiveMessage's ``{"StringValue", "DataType"}`` becomes Lambda's ``{"stringValue", "dataType", ...}``."""
    shaped: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": list(value.get("BinaryListValues", [])),
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        shaped["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shaped["binaryValue"] = value["BinaryValue"]
    return shaped


def lambda_sqs_event(messages: Sequence[MessageTypeDef], queue_arn: str, region: str) -> dict[str, Any]:
    return {"Records": [lambda_sqs_record(message, queue_arn, region) for message in messages]}


def poll_once(
    sqs: SQSClient,
    queue_url: str,
    queue_arn: str,
    region: str,
    handler: SqsHandler,
    wait_seconds: int = 1,
    batch_size: int = 10,
) -> PollResult:
    """Receive up to ``batch_size`` messages, invoke the handler once, delete the ones that succeeded."""
    messages = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=batch_size,
        WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    if not messages:
        return PollResult(0, 0, 0)
    context = LocalLambdaContext(WORKER_FUNCTION, deadline_ms=time.time() * 1000 + INVOCATION_SECONDS * 1000)
    try:
        response = handler(lambda_sqs_event(messages, queue_arn, region), context)
        failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
    except Exception as exc:
        # A failed invocation: the event source mapping deletes nothing; every message comes back.
        log.warning("the token worker failed on a whole batch: %s", type(exc).__name__)
        return PollResult(len(messages), len(messages), 0)
    done = [m for m in messages if m["MessageId"] not in failed]
    for offset in range(0, len(done), 10):
        entries: Any = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[offset : offset + 10])
        ]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    return PollResult(len(messages), len(failed), len(done))


def run_token_worker(
    settings: Settings, stop: threading.Event, wait_seconds: int = 1, handler: SqsHandler | None = None
) -> None:
    """Poll the token queue and feed the worker handler until ``stop`` is set."""
    handler = handler or load_handler(WORKER_HANDLER)
    # A long poll holds the answer back for up to wait_seconds: the read timeout must outlast it.
    long_poll = Config(read_timeout=wait_seconds + 5)
    sqs: SQSClient = aws_client("sqs", settings, DEFAULT_CONFIG.merge(long_poll))
    queue_url = queue_arn = ""
    failures = 0
    while not stop.is_set():
        try:
            if not queue_url:
                queue_url = sqs.get_queue_url(QueueName=settings.token_queue_name)["QueueUrl"]
                attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
                queue_arn = attributes["Attributes"]["QueueArn"]
            poll_once(sqs, queue_url, queue_arn, settings.aws_region, handler, wait_seconds)
            failures = 0
        except Exception as exc:  # the embedded AWS restarting, or not up yet: wait and retry
            failures += 1
            log.warning("polling %s failed (%s); retrying", settings.token_queue_name, type(exc).__name__)
            stop.wait(min(30.0, 0.5 * 2 ** min(failures, 6)))


@click.command("token-worker")
@click.option(
    "--wait-seconds", type=click.IntRange(0, 20), default=1, show_default=True, help="ReceiveMessage long-poll wait."
)
def token_worker_command(wait_seconds: int) -> None:
    """Run the token worker: poll the token queue and invoke the worker Lambda handler with SQS events.

    Reads KOIPOND_AWS_ENDPOINT (the embedded AWS), KOIPOND_TOKEN_MINT_ADMIN_TOKEN (the target's admin
    token, for minting) and KOIPOND_TOKEN_MINT_ORIGINS (the only origins that token may be sent to).
    Stops on SIGTERM or Ctrl-C after the batch in hand.
    """
    settings = get_settings()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"token worker polling {settings.token_queue_name} at {settings.aws_endpoint or 'AWS'}")
    run_token_worker(settings, stop, wait_seconds)
