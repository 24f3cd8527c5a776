"""Token worker entry points: SQS batches of users and plan steps (partial batch failures), and the renewal schedule."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.typing import LambdaContext

from koipond.composition.tokens import get_token_worker
from koipond.tokens.models import PlanMessage, ShardMessage, parse_queue_message

logger = Logger(service="token-worker")
# Failed records are reported as batchItemFailures (ReportBatchItemFailures), never as an error of
# the whole invocation, so the visibility timeouts set per record decide when each is retried.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
SCHEDULE_ACTOR = "token-schedule"
_CORRELATION = ("job_id", "shard", "message_id", "receive_count")


class BatchFailedError(Exception):
    """A record's failure as the batch processor sees it: the safe reason only, never the original error."""


def record_handler(record: SQSRecord) -> dict[str, Any]:
    receive_count = int(record.attributes.approximate_receive_count)
    message = parse_queue_message(record.body)
    plan = isinstance(message, PlanMessage)
    logger.append_keys(
        job_id=message.job_id if message else None,
        shard=message.shard if isinstance(message, ShardMessage) else None,
        message_id=record.message_id,
        receive_count=receive_count,
    )
    worker = get_token_worker()
    try:
        if message is None:
            raise ValueError("the message body is not a token batch")
        if isinstance(message, PlanMessage):
            outcome = worker.plan_once(plan=message.model_dump())
        else:
            outcome = worker.process_once(batch=message.model_dump())
    except Exception as exc:
        if isinstance(exc, IdempotencyAlreadyInProgressError) and not worker.batches.is_last_receive(receive_count):
            # Another invocation holds this step, or held it and was killed: its claim ends with its timeout,
            # which is shorter than the queue's visibility timeout. Not a failure: the message stays hidden
            # for that visibility timeout (no backoff, nothing recorded on the job) and is taken again once
            # the holder is done or gone. Backing off instead would spend the receives the redrive policy
            # allows within one claim and send a healthy step to the dead-letter queue.
            logger.info(
                "token plan step held by another invocation" if plan else "token batch held by another invocation"
            )
            raise BatchFailedError("held by another invocation") from None
        failure = worker.batches.record_failure(message, receive_count, record.receipt_handle, exc)
        logger.warning(
            "token plan step failed" if plan else "token batch failed",
            extra={"reason": failure.reason, "retry_in_seconds": failure.retry_in_seconds, "final": failure.final},
        )
        raise BatchFailedError(failure.reason) from None
    finally:
        logger.remove_keys(list(_CORRELATION))
    logger.info("token plan step done" if plan else "token batch stored", extra=outcome)
    return outcome


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS event source mapping (ReportBatchItemFailures) -> ``{"batchItemFailures": [...]}``."""
    # Lets an in-progress idempotency record expire with this invocation if it dies mid-batch.
    worker = get_token_worker()
    worker.idempotency_config.register_lambda_context(context)
    worker.plan_idempotency_config.register_lambda_context(context)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


@logger.inject_lambda_context(clear_state=True)
def schedule_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """EventBridge cron: renew tokens expiring within the horizon (``horizon_seconds`` in the event overrides)."""
    worker = get_token_worker()
    horizon = float(event.get("horizon_seconds", worker.settings.token_renew_horizon_seconds))
    renewed = worker.jobs.reenqueue_expiring(horizon, SCHEDULE_ACTOR)
    for job in renewed:
        logger.info(
            "renewing expiring tokens",
            extra={"job_id": job.id, "renews": job.renews, "workspace": job.workspace, "batches": job.batches_total},
        )
    return {"renewed": [{"job_id": job.id, "renews": job.renews} for job in renewed], "horizon_seconds": horizon}
