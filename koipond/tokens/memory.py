"""In-memory token jobs, queue and shards: the ports' conditions kept under a lock, for tests and local runs."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from koipond.clock import Clock
from koipond.errors import ConflictError, NotFoundError, StoreError
from koipond.tokens.models import (
    DEFAULT_MAX_RECEIVE_COUNT,
    PlanMessage,
    ShardDocument,
    ShardMessage,
    ShardProgress,
    ShardStatus,
    TokenJob,
    TokenQueueMessage,
    parse_queue_message,
    shard_key,
)
from koipond.tokens.ports import QueuedBatch


class InMemoryTokenJobRepository:
    """Jobs and batch outcomes in dicts; each transition checks its condition and writes under one lock."""

    def __init__(self) -> None:
        self._jobs: dict[str, TokenJob] = {}
        self._shards: dict[tuple[str, int], ShardProgress] = {}
        self._lock = threading.Lock()

    def create(self, job: TokenJob, renews: TokenJob | None = None) -> None:
        with self._lock:
            old = self._jobs.get(renews.id) if renews else None
            if job.id in self._jobs or (renews is not None and (old is None or old.renewed_by)):
                raise ConflictError(f"token job {job.id!r} exists, or {renews and renews.id!r} is renewed")
            self._jobs[job.id] = job
            if old is not None:
                self._jobs[old.id] = old.model_copy(update={"renewed_by": job.id})

    def get(self, job_id: str) -> TokenJob:
        with self._lock:
            return self._job(job_id)

    def list_jobs(self) -> list[TokenJob]:
        with self._lock:
            jobs = list(self._jobs.values())
        return sorted(jobs, key=lambda j: (j.created_at.isoformat(), j.id), reverse=True)

    def get_shard(self, job_id: str, shard: int) -> ShardProgress:
        with self._lock:
            return self._shard(job_id, shard)

    def get_shards(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], ShardProgress]:
        with self._lock:
            return {key: self._shard(*key) for key in keys}

    def list_shards(self, job_id: str) -> list[ShardProgress]:
        with self._lock:
            return sorted((p for (j, _), p in self._shards.items() if j == job_id), key=lambda p: p.shard)

    def set_last_error(self, job_id: str, error: str) -> None:
        with self._lock:
            self._update_job(self._job(job_id), last_error=error)

    def advance_plan(self, job_id: str, queued_from: int, queued_to: int) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.batches_queued != queued_from:
                return False
            self._update_job(job, batches_queued=queued_to, plan_failed=False)
            return True

    def record_plan_failure(self, job_id: str, error: str, final: bool) -> bool:
        with self._lock:
            job = self._job(job_id)
            stops = final and job.batches_queued < job.batches_total
            self._update_job(job, last_error=error, **({"plan_failed": True} if stops else {}))
            return stops

    def clear_plan_failure(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not job.plan_failed:
                return False
            self._update_job(job, plan_failed=False)
            return True

    def mark_done(self, job_id: str, shard: int, at: datetime) -> bool:
        with self._lock:
            job, progress = self._job(job_id), self._shard(job_id, shard)
            if progress.status is ShardStatus.DONE:
                return False
            was_failed = progress.status is ShardStatus.FAILED
            self._shards[(job_id, shard)] = progress.model_copy(update={"status": ShardStatus.DONE, "updated_at": at})
            self._update_job(
                job, batches_done=job.batches_done + 1, batches_failed=job.batches_failed - int(was_failed)
            )
            return True

    def record_failure(self, job_id: str, shard: int, error: str, at: datetime, final: bool) -> bool:
        with self._lock:
            job, progress = self._job(job_id), self._shard(job_id, shard)
            counts = final and progress.status is ShardStatus.PENDING
            attempt = {"attempts": progress.attempts + 1, "last_error": error, "updated_at": at}
            status = ShardStatus.FAILED if counts else progress.status
            self._shards[(job_id, shard)] = progress.model_copy(update={**attempt, "status": status})
            self._update_job(job, last_error=error, batches_failed=job.batches_failed + int(counts))
            return counts

    def reset_failed(self, job_id: str, shard: int, at: datetime) -> bool:
        with self._lock:
            job, progress = self._jobs.get(job_id), self._shard(job_id, shard)
            if job is None or progress.status is not ShardStatus.FAILED:
                return False
            self._shards[(job_id, shard)] = progress.model_copy(
                update={"status": ShardStatus.PENDING, "updated_at": at}
            )
            self._update_job(job, batches_failed=job.batches_failed - 1)
            return True

    def _job(self, job_id: str) -> TokenJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no token job with id {job_id!r}", {"job_id": job_id})
        return job

    def _shard(self, job_id: str, shard: int) -> ShardProgress:
        return self._shards.get((job_id, shard)) or ShardProgress(job_id=job_id, shard=shard)

    def _update_job(self, job: TokenJob, **changes: object) -> None:
        self._jobs[job.id] = job.model_copy(update=changes)


@dataclass(frozen=True)
class ReceivedMessage:
    """One delivery of a queued message, as an event source hands it to the worker."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int

    @property
    def message(self) -> TokenQueueMessage | None:
        return parse_queue_message(self.body)


@dataclass(frozen=True)
class _Stored:
    message_id: str
    body: str
    receive_count: int = 0
    visible_at: datetime | None = None
    receipt_handle: str | None = None


class InMemoryTokenQueue:
    """A queue and its dead-letter queue with SQS's rules: visibility timeouts, receive counts and a redrive
    policy (a message received more than ``max_receive_count`` times moves to the DLQ instead).

    Messages come out in the order sent. :meth:`receive` and :meth:`delete` are the event source's side
    (Lambda's, on AWS); the worker only sees the :class:`~koipond.tokens.ports.TokenQueue` methods.
    ``move_tasks`` says whether :meth:`start_move_task` is supported (SQS) or not (the embedded AWS).
    """

    def __init__(self, clock: Clock, max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT, move_tasks: bool = False):
        self._clock = clock
        self._max_receive_count = max_receive_count
        self._move_tasks = move_tasks
        self._queues: dict[str, list[_Stored]] = {"queue": [], "dlq": []}
        self._lock = threading.Lock()

    def send(self, batches: Sequence[TokenQueueMessage]) -> int:
        with self._lock:
            self._queues["queue"].extend(_Stored(uuid.uuid4().hex, batch.model_dump_json()) for batch in batches)
        return len(batches)

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        with self._lock:
            messages = self._queues["queue"]
            for i, stored in enumerate(messages):
                if stored.receipt_handle == receipt_handle:
                    messages[i] = replace(stored, visible_at=self._clock.now() + timedelta(seconds=seconds))
                    return
        raise StoreError("changing visibility failed: the receipt handle is not current")

    def max_receive_count(self) -> int:
        return self._max_receive_count

    def receive(self, limit: int = 10, visibility_timeout: int = 30) -> list[ReceivedMessage]:
        """Up to ``limit`` visible messages, hidden for ``visibility_timeout`` seconds; over-received ones go
        to the dead-letter queue instead of being delivered."""
        with self._lock:
            return self._receive("queue", limit, visibility_timeout, dead_letter=True)

    def delete(self, receipt_handle: str) -> None:
        """Delete a received message (a batch that succeeded); a stale handle deletes nothing."""
        with self._lock:
            for messages in self._queues.values():
                messages[:] = [m for m in messages if m.receipt_handle != receipt_handle]

    def depth(self) -> tuple[int, int]:
        """(visible, in flight) messages of the queue itself."""
        with self._lock:
            return self._depth("queue")

    def dlq_depth(self) -> tuple[int, int]:
        with self._lock:
            return self._depth("dlq")

    def peek_dlq(self, limit: int) -> list[QueuedBatch]:
        with self._lock:
            return [_queued(r) for r in self._receive("dlq", limit, 0, dead_letter=False)]

    def start_move_task(self) -> str | None:
        if not self._move_tasks:
            return None
        with self._lock:
            # The move task's copies are new messages: SQS counts their receives afresh.
            self._queues["queue"].extend(_Stored(m.message_id, m.body) for m in self._queues["dlq"])
            self._queues["dlq"].clear()
        return f"move-task-{uuid.uuid4().hex}"

    def move_back(self, limit: int) -> list[QueuedBatch]:
        with self._lock:
            moved = self._receive("dlq", limit, 30, dead_letter=False)
            handles = {m.receipt_handle for m in moved}
            self._queues["dlq"][:] = [m for m in self._queues["dlq"] if m.receipt_handle not in handles]
            self._queues["queue"].extend(_Stored(uuid.uuid4().hex, m.body) for m in moved)
        return [_queued(m) for m in moved]

    def _receive(self, which: str, limit: int, visibility: int, *, dead_letter: bool) -> list[ReceivedMessage]:
        now = self._clock.now()
        received: list[ReceivedMessage] = []
        kept: list[_Stored] = []
        for stored in self._queues[which]:
            if len(received) >= limit or (stored.visible_at is not None and stored.visible_at > now):
                kept.append(stored)
                continue
            if dead_letter and stored.receive_count >= self._max_receive_count:
                self._queues["dlq"].append(_Stored(stored.message_id, stored.body))
                continue
            handle = uuid.uuid4().hex
            delivered = replace(
                stored,
                receive_count=stored.receive_count + 1,
                visible_at=now + timedelta(seconds=visibility),
                receipt_handle=handle,
            )
            kept.append(delivered)
            received.append(ReceivedMessage(stored.message_id, handle, stored.body, delivered.receive_count))
        self._queues[which] = kept
        return received

    def _depth(self, which: str) -> tuple[int, int]:
        now = self._clock.now()
        hidden = sum(1 for m in self._queues[which] if m.visible_at is not None and m.visible_at > now)
        return len(self._queues[which]) - hidden, hidden


def _queued(message: ReceivedMessage) -> QueuedBatch:
    body = message.message
    return QueuedBatch(
        message_id=message.message_id,
        batch=body if isinstance(body, ShardMessage) else None,
        plan=body if isinstance(body, PlanMessage) else None,
    )


class InMemoryTokenShardStore:
    """Shards as the JSON their objects would hold, so a document that does not round-trip fails here too."""

    def __init__(self) -> None:
        self._objects: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def put(self, document: ShardDocument) -> str:
        key = shard_key(document.workspace, document.shard)
        with self._lock:
            self._objects[key] = (document.model_dump_json(), document.job_id)
        return key

    def stored_by(self, workspace: str, shard: int) -> str | None:
        with self._lock:
            stored = self._objects.get(shard_key(workspace, shard))
        return stored[1] if stored else None

    def get(self, workspace: str, shard: int) -> ShardDocument | None:
        with self._lock:
            stored = self._objects.get(shard_key(workspace, shard))
        return ShardDocument.model_validate_json(stored[0]) if stored else None
