"""The token pipeline's ports: where jobs, queued batches and minted shards are kept, and who mints tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from koipond.tokens.models import (
    PlanMessage,
    ShardDocument,
    ShardMessage,
    ShardProgress,
    TokenJob,
    TokenQueueMessage,
)


@dataclass(frozen=True)
class QueuedBatch:
    """A message of the DLQ: its id and its batch or plan step, when its body is one (no tokens are ever queued)."""

    message_id: str
    batch: ShardMessage | None
    plan: PlanMessage | None = None


class TokenProvider(Protocol):
    def mint(self, workspace: str, target: str, indexes: Sequence[int]) -> dict[int, str]:
        """Tokens of users ``indexes`` of ``workspace``, minted by ``target``.

        Raises:
            TokenMintError: no tokens for this batch; the message never holds a token.
        """
        ...


class TokenJobRepository(Protocol):
    """Jobs and their batches; every transition of a batch moves its job's counters exactly once.

    A batch is pending until its first outcome. Transitions and what they do to the job:
    pending -> done (``batches_done`` + 1), pending -> failed on a final failure (``batches_failed`` + 1),
    failed -> done (done + 1, failed - 1), failed -> pending on a redrive (failed - 1).
    """

    def create(self, job: TokenJob, renews: TokenJob | None = None) -> None:
        """Store a new job; when it ``renews`` another, mark that one renewed, all or nothing.

        Raises:
            ConflictError: the job exists, or ``renews`` is missing or renewed already (nothing was written).
        """
        ...

    def get(self, job_id: str) -> TokenJob:
        """Raises: NotFoundError."""
        ...

    def list_jobs(self) -> list[TokenJob]:
        """Every job, newest first (may lag a write a little)."""
        ...

    def get_shard(self, job_id: str, shard: int) -> ShardProgress:
        """A batch's progress (pending when it has no outcome yet)."""
        ...

    def get_shards(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], ShardProgress]:
        """Progress of the given ``(job_id, shard)`` batches (pending when they have no outcome yet)."""
        ...

    def list_shards(self, job_id: str) -> list[ShardProgress]:
        """The batches of a job that have an outcome (done, failed, or retried at least once), by shard."""
        ...

    def set_last_error(self, job_id: str, error: str) -> None:
        """Raises: NotFoundError."""
        ...

    def advance_plan(self, job_id: str, queued_from: int, queued_to: int) -> bool:
        """Move the job's cursor ``queued_from`` -> ``queued_to`` and clear a plan failure; False when it had moved."""
        ...

    def record_plan_failure(self, job_id: str, error: str, final: bool) -> bool:
        """Note why a plan step failed; when ``final`` (and batches are left to queue) the plan stops.

        Returns:
            True when this call marked the plan failed.

        Raises:
            NotFoundError: the job does not exist.
        """
        ...

    def clear_plan_failure(self, job_id: str) -> bool:
        """A redriven plan step is pending again; True when this call cleared the failure."""
        ...

    def mark_done(self, job_id: str, shard: int, at: datetime) -> bool:
        """pending -> done (or failed -> done); True when this call counted the batch.

        Raises:
            NotFoundError: the job does not exist.
        """
        ...

    def record_failure(self, job_id: str, shard: int, error: str, at: datetime, final: bool) -> bool:
        """Count a failed attempt; when ``final``, pending -> failed. True when this call counted a failure.

        A batch that is already failed or done keeps its status (its attempts and error still change).

        Raises:
            NotFoundError: the job does not exist.
        """
        ...

    def reset_failed(self, job_id: str, shard: int, at: datetime) -> bool:
        """failed -> pending, for a batch moved back to the queue; True when this call took the failure back."""
        ...


class TokenQueue(Protocol):
    """The queue of batches and plan steps, and its dead-letter queue."""

    def send(self, batches: Sequence[TokenQueueMessage]) -> int:
        """Queue one message per batch or plan step; returns how many (all, or it raises StoreError)."""
        ...

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        """Hide a received message for ``seconds`` more (0: visible now). Raises: StoreError."""
        ...

    def max_receive_count(self) -> int:
        """Receives before a message moves to the dead-letter queue."""
        ...

    def dlq_depth(self) -> tuple[int, int]:
        """(visible, in flight) messages of the dead-letter queue, perhaps approximate."""
        ...

    def peek_dlq(self, limit: int) -> list[QueuedBatch]:
        """Up to ``limit`` dead-letter messages, left where they are."""
        ...

    def start_move_task(self) -> str | None:
        """Start moving the whole dead-letter queue back on its own; its handle, or None where unsupported.

        Raises:
            StoreError: the move could not start (say, one is already running).
        """
        ...

    def move_back(self, limit: int) -> list[QueuedBatch]:
        """Move up to ``limit`` dead-letter messages back to the queue, each deleted only once it was sent."""
        ...


class TokenShardStore(Protocol):
    """Minted shards, encrypted at rest; one document per workspace and shard number."""

    def put(self, document: ShardDocument) -> str:
        """Store (or replace) one shard; returns its key. Raises: StoreError (never quoting the document)."""
        ...

    def stored_by(self, workspace: str, shard: int) -> str | None:
        """The job that wrote the stored shard, or None when there is none."""
        ...

    def get(self, workspace: str, shard: int) -> ShardDocument | None:
        """The stored shard, or None when there is none."""
        ...
