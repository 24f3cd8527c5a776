"""The token queue and its dead-letter queue (SQS): send batches, back off, peek and redrive the DLQ."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from koipond.aws_clients import AwsClients
from koipond.errors import StoreError
from koipond.tokens.models import (
    DEFAULT_MAX_RECEIVE_COUNT,
    PlanMessage,
    ShardMessage,
    TokenQueueMessage,
    parse_queue_message,
)
from koipond.tokens.ports import QueuedBatch

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import (
        MessageAttributeValueTypeDef,
        MessageTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

log = logging.getLogger("koipond.tokens.queue")

# SQS takes at most 10 entries per SendMessageBatch / DeleteMessageBatch and returns at most 10 per receive.
SQS_BATCH = 10
_SEND_ATTEMPTS = 5
# Parallel SendMessageBatch calls when a job has many batches: 100,000 batches are 10,000 calls.
_SEND_THREADS = 8
# Error codes with which an endpoint says it lacks an action (moto server answers a bare 500).
_UNSUPPORTED = {"500", "InternalFailure", "NotImplemented", "InvalidAction", "UnknownOperationException"}
# How long a message being moved stays hidden in the DLQ: if the move fails midway it reappears there.
_MOVE_VISIBILITY_SECONDS = 30

T = TypeVar("T")


def _sdk(what: str, call: Callable[..., T], **kwargs: Any) -> T:
    try:
        return call(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise StoreError(f"{what} failed: {exc}") from exc


class SqsTokenQueue:
    """The queue ``queue_name`` and its DLQ ``dlq_name``; URLs and ARNs are looked up once, on first use."""

    def __init__(self, clients: AwsClients, queue_name: str, dlq_name: str) -> None:
        self._clients = clients
        self._names = {"queue": queue_name, "dlq": dlq_name}
        self._urls: dict[str, str] = {}
        self._arns: dict[str, str] = {}
        self._max_receive_count: int | None = None
        self._move_task_supported: bool | None = None
        self._lock = threading.Lock()

    # -- addresses -------------------------------------------------------------------------------

    def url(self, which: str = "queue") -> str:
        with self._lock:
            if which not in self._urls:
                name = self._names[which]
                self._urls[which] = _sdk(f"finding queue {name}", self._clients.sqs.get_queue_url, QueueName=name)[
                    "QueueUrl"
                ]
            return self._urls[which]

    def arn(self, which: str = "queue") -> str:
        if which not in self._arns:
            url = self.url(which)
            attributes = _sdk(
                f"reading {url}", self._clients.sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["QueueArn"]
            )
            self._arns[which] = attributes["Attributes"]["QueueArn"]
        return self._arns[which]

    def max_receive_count(self) -> int:
        """Receives before SQS moves a message to the DLQ, from the queue's redrive policy."""
        if self._max_receive_count is None:
            url = self.url()
            attributes = _sdk(
                f"reading {url}", self._clients.sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["RedrivePolicy"]
            )
            policy = attributes.get("Attributes", {}).get("RedrivePolicy")
            count = json.loads(policy).get("maxReceiveCount") if policy else None
            self._max_receive_count = int(count) if count else DEFAULT_MAX_RECEIVE_COUNT
        return self._max_receive_count

    # -- the queue -------------------------------------------------------------------------------

    def send(self, batches: Sequence[TokenQueueMessage]) -> int:
        """Send one message per batch (or plan step), ten per call; entries SQS refuses are retried.

        Returns:
            How many were sent (all of them, or it raises).

        Raises:
            StoreError: some batches could not be sent; ``details["sent"]`` says how many were.
        """
        chunks = [batches[i : i + SQS_BATCH] for i in range(0, len(batches), SQS_BATCH)]
        if len(chunks) <= 1:
            return sum(self._send_chunk(chunk) for chunk in chunks)
        self.url()  # looked up once, before the threads need it
        sent = 0
        failure: StoreError | None = None
        with ThreadPoolExecutor(max_workers=min(_SEND_THREADS, len(chunks))) as pool:
            for future in as_completed([pool.submit(self._send_chunk, chunk) for chunk in chunks]):
                try:
                    sent += future.result()
                except StoreError as exc:
                    failure = exc
        if failure is not None:
            raise StoreError(f"{len(batches) - sent} of {len(batches)} batches not queued: {failure}", {"sent": sent})
        return sent

    def _send_chunk(self, chunk: Sequence[TokenQueueMessage]) -> int:
        pending: dict[str, SendMessageBatchRequestEntryTypeDef] = {
            str(i): {
                "Id": str(i),
                "MessageBody": batch.model_dump_json(),
                "MessageAttributes": {"job_id": {"DataType": "String", "StringValue": batch.job_id}},
            }
            for i, batch in enumerate(chunk)
        }
        url = self.url()
        for attempt in range(_SEND_ATTEMPTS):
            entries = list(pending.values())
            answer = _sdk("sending batches", self._clients.sqs.send_message_batch, QueueUrl=url, Entries=entries)
            for ok in answer.get("Successful", []):
                pending.pop(ok["Id"], None)
            if not pending:
                return len(chunk)
            # SQS refuses single entries when throttled or briefly unavailable; back off and resend them.
            time.sleep(0.05 * 2**attempt)
        codes = sorted({failed.get("Code", "?") for failed in answer.get("Failed", [])})
        raise StoreError(f"SQS refused {len(pending)} batches ({', '.join(codes)})")

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        """Hide a received message for ``seconds`` more (0: visible now)."""
        url = self.url()
        _sdk(
            "changing visibility",
            self._clients.sqs.change_message_visibility,
            QueueUrl=url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=seconds,
        )

    # -- the dead-letter queue -------------------------------------------------------------------

    def dlq_depth(self) -> tuple[int, int]:
        """(visible, in flight) messages of the DLQ, as SQS approximates them."""
        url = self.url("dlq")
        names: Any = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = _sdk(
            "reading the DLQ", self._clients.sqs.get_queue_attributes, QueueUrl=url, AttributeNames=names
        )["Attributes"]
        return int(attributes.get(names[0], 0)), int(attributes.get(names[1], 0))

    def peek_dlq(self, limit: int) -> list[QueuedBatch]:
        """Up to ``limit`` DLQ messages, left where they are (received with a visibility timeout of 0)."""
        url = self.url("dlq")
        seen: dict[str, QueuedBatch] = {}
        for _ in range(2):
            if len(seen) >= limit:
                break
            answer = _sdk(
                "peeking at the DLQ",
                self._clients.sqs.receive_message,
                QueueUrl=url,
                MaxNumberOfMessages=min(SQS_BATCH, limit - len(seen)),
                VisibilityTimeout=0,
                WaitTimeSeconds=0,
            )
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                seen.setdefault(message["MessageId"], _queued(message))
        return list(seen.values())[:limit]

    def start_move_task(self) -> str | None:
        """Start SQS's own redrive of the DLQ into the queue; None when the endpoint lacks the action.

        Raises:
            StoreError: SQS refused for another reason (say, a move task is already running).
        """
        if self._move_task_supported is False:
            return None
        source, destination = self.arn("dlq"), self.arn("queue")
        try:
            answer = self._clients.sqs_single_attempt.start_message_move_task(
                SourceArn=source, DestinationArn=destination
            )
        except NotImplementedError:  # moto in-process
            self._move_task_supported = False
            return None
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _UNSUPPORTED:
                log.info("this SQS endpoint lacks StartMessageMoveTask; moving DLQ messages one by one")
                self._move_task_supported = False
                return None
            raise StoreError(f"starting the DLQ redrive failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"starting the DLQ redrive failed: {exc}") from exc
        self._move_task_supported = True
        return str(answer["TaskHandle"])

    def move_back(self, limit: int) -> list[QueuedBatch]:
        """Move up to ``limit`` DLQ messages to the queue: receive, send, then delete what was sent.

        A message is deleted from the DLQ only after the queue accepted its copy, so a failure midway
        leaves it in the DLQ (at worst both queues hold it, and the worker's idempotency absorbs that).
        """
        dlq, queue = self.url("dlq"), self.url()
        moved: list[QueuedBatch] = []
        empty_receives = 0
        while len(moved) < limit and empty_receives < 2:
            messages = _sdk(
                "receiving from the DLQ",
                self._clients.sqs.receive_message,
                QueueUrl=dlq,
                MaxNumberOfMessages=min(SQS_BATCH, limit - len(moved)),
                VisibilityTimeout=_MOVE_VISIBILITY_SECONDS,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                # Short polling samples a subset of SQS's servers: one empty answer does not mean empty.
                empty_receives += 1
                continue
            empty_receives = 0
            moved.extend(self._move_messages(messages, dlq, queue))
        return moved

    def _move_messages(self, messages: Sequence[MessageTypeDef], dlq: str, queue: str) -> list[QueuedBatch]:
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {
                "Id": str(i),
                "MessageBody": message["Body"],
                "MessageAttributes": _resendable(message.get("MessageAttributes", {})),
            }
            for i, message in enumerate(messages)
        ]
        answer = _sdk("moving DLQ messages", self._clients.sqs.send_message_batch, QueueUrl=queue, Entries=entries)
        sent = [messages[int(ok["Id"])] for ok in answer.get("Successful", [])]
        if sent:
            deletions: Any = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(sent)]
            _sdk("deleting moved DLQ messages", self._clients.sqs.delete_message_batch, QueueUrl=dlq, Entries=deletions)
        return [_queued(message) for message in sent]


def _queued(message: MessageTypeDef) -> QueuedBatch:
    body = parse_queue_message(message.get("Body", ""))
    return QueuedBatch(
        message_id=message["MessageId"],
        batch=body if isinstance(body, ShardMessage) else None,
        plan=body if isinstance(body, PlanMessage) else None,
    )


def _resendable(attributes: dict[str, Any]) -> dict[str, MessageAttributeValueTypeDef]:
    """ReceiveMessage's attribute shape to SendMessage's (only the value and its type)."""
    resend: dict[str, MessageAttributeValueTypeDef] = {}
    for name, value in attributes.items():
        kept: Any = {"DataType": value["DataType"]}
        if "StringValue" in value:
            kept["StringValue"] = value["StringValue"]
        elif "BinaryValue" in value:
            kept["BinaryValue"] = value["BinaryValue"]
        else:
            continue
        resend[name] = kept
    return resend
