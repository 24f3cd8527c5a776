"""The token worker's unit of work: mint one batch, store its shard (SSE-KMS), and count it on its job once."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from koipond.clock import Clock
from koipond.errors import KoipondError, StoreError
from koipond.tokens.models import (
    DEFAULT_MAX_RECEIVE_COUNT,
    PlanMessage,
    ShardDocument,
    ShardMessage,
    ShardStatus,
    TokenQueueMessage,
)
from koipond.tokens.ports import TokenJobRepository, TokenProvider, TokenQueue, TokenShardStore
from koipond.tokens.retry_delays import visibility_backoff_seconds

log = logging.getLogger("koipond.tokens.worker")

MAX_ERROR_CHARS = 300
# Errors whose messages are written by code that never sees a token; any other error is reported by
# its type alone, because its message could quote whatever it was handed.
_TRUSTED_MESSAGES = ("aws_lambda_powertools.utilities.idempotency",)


@dataclass(frozen=True)
class BatchFailure:
    """What became of a failed attempt."""

    reason: str  # safe to log and store: never holds a token
    retry_in_seconds: int
    final: bool  # the last receive SQS allows: the batch goes to the dead-letter queue next
    counted_failed: bool  # this attempt moved the job's batches_failed


def describe_failure(error: BaseException) -> str:
    """A one-line reason for a failed batch that never quotes a token."""
    if isinstance(error, KoipondError):
        text = error.message
    elif type(error).__module__.startswith(_TRUSTED_MESSAGES):
        text = f"{type(error).__name__}: {error}"
    else:
        text = type(error).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


class TokenBatchWorker:
    """Processes batches from the token queue; :meth:`process` is what the handler makes idempotent."""

    def __init__(
        self,
        jobs: TokenJobRepository,
        queue: TokenQueue,
        shards: TokenShardStore,
        provider: TokenProvider,
        clock: Clock,
        rng: random.Random,
        token_ttl_seconds: int,
        backoff_base_seconds: int = 2,
        backoff_cap_seconds: int = 900,
    ) -> None:
        self._jobs = jobs
        self._queue = queue
        self._shards = shards
        self._provider = provider
        self._clock = clock
        self._rng = rng
        self._ttl = timedelta(seconds=token_ttl_seconds)
        self._backoff = (backoff_base_seconds, backoff_cap_seconds)

    def process(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Mint, store and count one batch (a :class:`ShardMessage` as a dict); a done batch is left alone.

        Returns:
            A summary without tokens (Powertools stores it as the idempotent result).

        Raises:
            TokenMintError: the provider failed. StoreError: S3, KMS or DynamoDB failed.
        """
        message = ShardMessage.model_validate(batch)
        summary: dict[str, Any] = {"job_id": message.job_id, "shard": message.shard}
        if self._jobs.get_shard(message.job_id, message.shard).status is ShardStatus.DONE:
            return {**summary, "outcome": "already_done"}
        if self._shards.stored_by(message.workspace, message.shard) == message.job_id:
            # Stored by an earlier attempt whose final write failed: count it, do not mint again.
            self._jobs.mark_done(message.job_id, message.shard, self._clock.now())
            return {**summary, "outcome": "already_stored"}
        tokens = self._provider.mint(message.workspace, message.target, list(message.users()))
        key = self._store(message, tokens)
        counted = self._jobs.mark_done(message.job_id, message.shard, self._clock.now())
        return {**summary, "outcome": "minted", "key": key, "users": len(tokens), "counted": counted}

    def _store(self, message: ShardMessage, tokens: dict[int, str]) -> str:
        minted_at = self._clock.now()
        try:
            document = ShardDocument(
                workspace=message.workspace,
                shard=message.shard,
                tokens=tokens,
                minted_at=minted_at,
                expires_at=minted_at + self._ttl,
                job_id=message.job_id,
            )
        except ValueError:
            # A validation error quotes its input, and this input is tokens.
            raise StoreError(f"shard {message.shard} of job {message.job_id} is not a valid document") from None
        return self._shards.put(document)

    def record_failure(
        self, message: TokenQueueMessage | None, receive_count: int, receipt_handle: str, error: BaseException
    ) -> BatchFailure:
        """Note a failed attempt on the batch (or plan step) and hide the message for a growing, jittered delay.

        On the last receive the queue's redrive policy allows, the batch counts as failed on its job
        (a plan step marks the job's plan failed) and the message is made visible at once, so SQS
        moves it to the dead-letter queue on the next receive rather than after one more delay.
        """
        reason = describe_failure(error)
        final = self.is_last_receive(receive_count)
        counted = False
        if message is not None:
            try:
                counted = self._record(message, reason, final)
            except KoipondError as exc:
                log.warning("could not record the failure of a batch: %s", exc.message)
        delay = 0 if final else visibility_backoff_seconds(receive_count, self._rng, *self._backoff)
        try:
            self._queue.change_visibility(receipt_handle, delay)
        except StoreError as exc:
            log.warning("could not delay the retry of a batch: %s", exc.message)
        return BatchFailure(reason=reason, retry_in_seconds=delay, final=final, counted_failed=counted)

    def is_last_receive(self, receive_count: int) -> bool:
        """Whether the queue's redrive policy sends this message to the dead-letter queue on its next receive."""
        return receive_count >= self._max_receive_count()

    def _record(self, message: TokenQueueMessage, reason: str, final: bool) -> bool:
        if isinstance(message, PlanMessage):
            return self._jobs.record_plan_failure(message.job_id, reason, final)
        return self._jobs.record_failure(message.job_id, message.shard, reason, self._clock.now(), final)

    def _max_receive_count(self) -> int:
        try:
            return self._queue.max_receive_count()
        except StoreError:
            return DEFAULT_MAX_RECEIVE_COUNT
