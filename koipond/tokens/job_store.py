"""Token jobs and their batches (shards) in the table; a batch moves the job's counters exactly once.

Items:

| item        | pk                 | sk              | gsi1pk      | gsi1sk                |
|-------------|--------------------|-----------------|-------------|-----------------------|
| token job   | ``TOKENJOB#<id>``  | ``META``        | ``TOKENJOBS``| ``<created_at>#<id>``|
| its batch   | ``TOKENJOB#<id>``  | ``SHARD#<n>``   |             |                       |

The job's immutable fields are its ``doc``; ``batches_done``, ``batches_failed``, ``last_error``,
``renewed_by`` and the plan's ``batches_queued`` and ``plan_failed`` are attributes of their own, so
workers change them with ``ADD``/``SET`` without reading the job first (``batches_total`` is copied
out of the doc for conditions to compare with). A batch without an item is pending: items appear on
a batch's first outcome, so creating a job of 100,000 batches writes one item, not 100,001.

The plan: the worker queues a job's batches in steps; ``batches_queued`` is the cursor, moved from
the value a step read to the value it reached by one conditional write, so two deliveries of one
step never both move it (a job stored before plans existed has no cursor: all its batches were queued).

Transitions of a batch and what they do to its job, each one transaction with a named condition:

    pending --done-->   done      batches_done + 1
    pending --final failure--> failed    batches_failed + 1
    failed  --done-->   done      batches_done + 1, batches_failed - 1   (redriven by a move task)
    failed  --redrive--> pending  batches_failed - 1                    (redriven by receive-send-delete)
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from koipond.errors import ConflictError, NotFoundError, StoreError, TransactionConflictError
from koipond.store.schema import DOC, GSI1_PK, GSI1_SK, META, PK, SK
from koipond.store.table import NEW_ITEM, ConditionFailed, DynamoTable
from koipond.tokens.models import ShardProgress, ShardStatus, TokenJob

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

Item = dict[str, Any]

TOKEN_JOBS_INDEX = "TOKENJOBS"  # noqa: S105 - an index key, not a secret
DONE_COUNT = "batches_done"
FAILED_COUNT = "batches_failed"
LAST_ERROR = "last_error"
RENEWED_BY = "renewed_by"
QUEUED_COUNT = "batches_queued"
TOTAL_COUNT = "batches_total"
PLAN_FAILED = "plan_failed"
STATUS = "status"
ATTEMPTS = "attempts"
UPDATED_AT = "updated_at"
SHARD_PREFIX = "SHARD#"

_NAMES = {
    "#pk": PK,
    "#queued": QUEUED_COUNT,
    "#total": TOTAL_COUNT,
    "#plan_failed": PLAN_FAILED,
    "#done": DONE_COUNT,
    "#failed": FAILED_COUNT,
    "#error": LAST_ERROR,
    "#renewed": RENEWED_BY,
    "#attempts": ATTEMPTS,
    "#at": UPDATED_AT,
}

# Conditions of the batch transitions; each says which race it prevents.
# Prevents: a redelivered or concurrently processed batch counting twice.
SHARD_PENDING = "attribute_not_exists(#pk) OR #status = :pending"
# Prevents: a redrive (or a worker) taking back a failure that another one already took back.
SHARD_FAILED = "#status = :failed"
# Prevents: counters written to a job that does not exist (they would create a headless item).
JOB_EXISTS = "attribute_exists(#pk)"
# Prevents: two scheduled runs renewing the same job twice.
NOT_RENEWED = "attribute_exists(#pk) AND attribute_not_exists(#renewed)"
# Prevents: two deliveries of one plan step (or a stale one) both moving the cursor; the loser stops.
CURSOR_UNMOVED = "#queued = :from"
# Prevents: a late failure of a duplicate plan step marking a job whose batches are all queued as failed.
PLAN_UNFINISHED = "attribute_exists(#pk) AND #queued < #total"
# Prevents: two redrives of one plan step both counting the failure taken back.
PLAN_FAILED_SET = "#plan_failed = :true"

# Many workers finish batches of one job at once; their transactions on the job item conflict.
_CONFLICT_RETRIES = 8


def token_job_pk(job_id: str) -> str:
    return f"TOKENJOB#{job_id}"


def shard_sk(shard: int) -> str:
    return f"{SHARD_PREFIX}{shard:07d}"


def token_job_to_item(job: TokenJob) -> Item:
    immutable = job.model_dump_json(
        exclude={"batches_done", "batches_failed", "last_error", "renewed_by", "batches_queued", "plan_failed"}
    )
    return {
        PK: token_job_pk(job.id),
        SK: META,
        GSI1_PK: TOKEN_JOBS_INDEX,
        GSI1_SK: f"{job.created_at.isoformat()}#{job.id}",
        DOC: immutable,
        DONE_COUNT: job.batches_done,
        FAILED_COUNT: job.batches_failed,
        LAST_ERROR: job.last_error,
        RENEWED_BY: job.renewed_by,
        QUEUED_COUNT: job.batches_queued,
        TOTAL_COUNT: job.batches_total,
        PLAN_FAILED: job.plan_failed,
    }


def token_job_from_item(item: Item) -> TokenJob:
    job = TokenJob.model_validate_json(item[DOC])
    return job.model_copy(
        update={
            "batches_queued": int(item.get(QUEUED_COUNT, job.batches_total)),
            "plan_failed": bool(item.get(PLAN_FAILED, False)),
            "batches_done": int(item.get(DONE_COUNT, 0)),
            "batches_failed": max(0, int(item.get(FAILED_COUNT, 0))),
            "last_error": item.get(LAST_ERROR),
            "renewed_by": item.get(RENEWED_BY),
        }
    )


def shard_from_item(item: Item) -> ShardProgress:
    return ShardProgress(
        job_id=item[PK].removeprefix("TOKENJOB#"),
        shard=int(item[SK].removeprefix(SHARD_PREFIX)),
        status=ShardStatus(item.get(STATUS, ShardStatus.PENDING)),
        attempts=int(item.get(ATTEMPTS, 0)),
        last_error=item.get(LAST_ERROR),
        updated_at=datetime.fromisoformat(item[UPDATED_AT]) if UPDATED_AT in item else None,
    )


class DynamoTokenJobRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def create(self, job: TokenJob, renews: TokenJob | None = None) -> None:
        """Store a new job; when it ``renews`` another, mark that one renewed in the same transaction.

        Raises:
            ConflictError: the job exists, or ``renews`` was renewed already (nothing was written).
        """
        # Prevents: two creates racing on the same id (ids are random, but never overwrite).
        actions = [self._table.put_action(token_job_to_item(job), NEW_ITEM)]
        if renews is not None:
            actions.append(
                self._table.update_action(
                    token_job_pk(renews.id), META, "SET #renewed = :new", NOT_RENEWED, {":new": job.id}, _NAMES
                )
            )
        try:
            self._table.transact(actions)
        except ConditionFailed as exc:
            raise ConflictError(f"token job {job.id!r} exists, or {renews and renews.id!r} is renewed") from exc

    def get(self, job_id: str) -> TokenJob:
        item = self._table.get(token_job_pk(job_id), META)
        if item is None:
            raise NotFoundError(f"no token job with id {job_id!r}", {"job_id": job_id})
        return token_job_from_item(item)

    def list_jobs(self) -> list[TokenJob]:
        """Every job, newest first (reads the index, so eventually consistent)."""
        return [token_job_from_item(i) for i in self._table.query(TOKEN_JOBS_INDEX, index=True, ascending=False)]

    def get_shard(self, job_id: str, shard: int) -> ShardProgress:
        item = self._table.get(token_job_pk(job_id), shard_sk(shard))
        return shard_from_item(item) if item else ShardProgress(job_id=job_id, shard=shard)

    def get_shards(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], ShardProgress]:
        """Progress of the given batches (pending when they have no item yet)."""
        found = {
            (p.job_id, p.shard): p
            for p in map(shard_from_item, self._table.batch_get([(token_job_pk(j), shard_sk(s)) for j, s in keys]))
        }
        return {key: found.get(key) or ShardProgress(job_id=key[0], shard=key[1]) for key in keys}

    def list_shards(self, job_id: str) -> list[ShardProgress]:
        """The batches of a job that have an outcome (done, failed, or retried at least once)."""
        items = self._table.query(token_job_pk(job_id))
        return [shard_from_item(item) for item in items if str(item[SK]).startswith(SHARD_PREFIX)]

    def set_last_error(self, job_id: str, error: str) -> None:
        try:
            self._transact_retrying(
                [
                    self._table.update_action(
                        token_job_pk(job_id), META, "SET #error = :e", JOB_EXISTS, {":e": error}, _NAMES
                    )
                ]
            )
        except ConditionFailed as exc:
            raise NotFoundError(f"no token job with id {job_id!r}", {"job_id": job_id}) from exc

    def advance_plan(self, job_id: str, queued_from: int, queued_to: int) -> bool:
        """Move the job's cursor ``queued_from`` -> ``queued_to`` and clear a plan failure; False when it had moved."""
        try:
            self._table.update_if(
                token_job_pk(job_id),
                META,
                "SET #queued = :to, #plan_failed = :false",
                CURSOR_UNMOVED,
                {":from": queued_from, ":to": queued_to, ":false": False},
                _NAMES,
            )
        except ConditionFailed:
            return False
        return True

    def record_plan_failure(self, job_id: str, error: str, final: bool) -> bool:
        """Note why a plan step failed; when ``final``, the plan stops (the job shows failed). True when it did."""
        if final:
            try:
                self._table.update_if(
                    token_job_pk(job_id),
                    META,
                    "SET #error = :e, #plan_failed = :true",
                    PLAN_UNFINISHED,
                    {":e": error, ":true": True},
                    _NAMES,
                )
                return True
            except ConditionFailed:
                pass
        self.set_last_error(job_id, error)
        return False

    def clear_plan_failure(self, job_id: str) -> bool:
        """A redriven plan step is pending again; True when this call cleared the failure."""
        try:
            self._table.update_if(
                token_job_pk(job_id),
                META,
                "SET #plan_failed = :false",
                PLAN_FAILED_SET,
                {":true": True, ":false": False},
                _NAMES,
            )
        except ConditionFailed:
            return False
        return True

    def mark_done(self, job_id: str, shard: int, at: datetime) -> bool:
        """pending -> done (or failed -> done); True when this call counted the batch.

        Raises:
            NotFoundError: the job does not exist.
        """
        for _ in range(3):
            try:
                self._transact_retrying(self._done_actions(job_id, shard, at, ShardStatus.PENDING))
                return True
            except ConditionFailed:
                current = self.get_shard(job_id, shard)
            if current.status is ShardStatus.DONE:
                return False
            if current.status is ShardStatus.FAILED:
                try:
                    self._transact_retrying(self._done_actions(job_id, shard, at, ShardStatus.FAILED))
                    return True
                except ConditionFailed:
                    continue
            self.get(job_id)  # a pending batch whose write failed: its job is gone (NotFoundError)
        raise StoreError(f"batch {shard} of token job {job_id!r} kept changing; not marked done")

    def _done_actions(self, job_id: str, shard: int, at: datetime, was: ShardStatus) -> list[TransactWriteItemTypeDef]:
        if was is ShardStatus.PENDING:
            condition, counters, amounts = SHARD_PENDING, "ADD #done :one", {":one": 1}
        else:
            condition, counters, amounts = (
                SHARD_FAILED,
                "ADD #done :one, #failed :minus_one",
                {":one": 1, ":minus_one": -1},
            )
        values = {":done": ShardStatus.DONE.value, ":at": at.isoformat(), **_status_values(was)}
        return [
            self._table.update_action(
                token_job_pk(job_id), shard_sk(shard), "SET #status = :done, #at = :at", condition, values, _NAMES
            ),
            self._table.update_action(token_job_pk(job_id), META, counters, JOB_EXISTS, amounts, _NAMES),
        ]

    def record_failure(self, job_id: str, shard: int, error: str, at: datetime, final: bool) -> bool:
        """Count a failed attempt; when ``final``, pending -> failed. True when this call counted a failure.

        A batch that is already failed (redriven by a move task, failing again) or done stays as it is.
        """
        attempt = {":one": 1, ":error": error, ":at": at.isoformat()}
        if final:
            try:
                self._transact_retrying(
                    [
                        self._table.update_action(
                            token_job_pk(job_id),
                            shard_sk(shard),
                            "SET #status = :failed, #error = :error, #at = :at ADD #attempts :one",
                            SHARD_PENDING,
                            {**attempt, ":failed": ShardStatus.FAILED.value, ":pending": ShardStatus.PENDING.value},
                            _NAMES,
                        ),
                        self._table.update_action(
                            token_job_pk(job_id),
                            META,
                            "SET #error = :error ADD #failed :one",
                            JOB_EXISTS,
                            {":one": 1, ":error": error},
                            _NAMES,
                        ),
                    ]
                )
                return True
            except ConditionFailed:
                pass
        try:
            self._transact_retrying(
                [
                    self._table.update_action(
                        token_job_pk(job_id),
                        shard_sk(shard),
                        "SET #status = if_not_exists(#status, :pending), #error = :error, #at = :at ADD #attempts :one",
                        None,
                        {**attempt, ":pending": ShardStatus.PENDING.value},
                        _NAMES,
                    ),
                    self._table.update_action(
                        token_job_pk(job_id), META, "SET #error = :error", JOB_EXISTS, {":error": error}, _NAMES
                    ),
                ]
            )
        except ConditionFailed as exc:
            raise NotFoundError(f"no token job with id {job_id!r}", {"job_id": job_id}) from exc
        return False

    def reset_failed(self, job_id: str, shard: int, at: datetime) -> bool:
        """failed -> pending, for a batch moved back to the queue; True when this call took the failure back."""
        try:
            self._transact_retrying(
                [
                    self._table.update_action(
                        token_job_pk(job_id),
                        shard_sk(shard),
                        "SET #status = :pending, #at = :at",
                        SHARD_FAILED,
                        {
                            ":pending": ShardStatus.PENDING.value,
                            ":at": at.isoformat(),
                            **_status_values(ShardStatus.FAILED),
                        },
                        _NAMES,
                    ),
                    self._table.update_action(
                        token_job_pk(job_id), META, "ADD #failed :minus_one", JOB_EXISTS, {":minus_one": -1}, _NAMES
                    ),
                ]
            )
        except ConditionFailed:
            return False
        return True

    def _transact_retrying(self, actions: Sequence[TransactWriteItemTypeDef]) -> None:
        for attempt in range(_CONFLICT_RETRIES):
            try:
                self._table.transact(actions)
                return
            except TransactionConflictError:
                if attempt == _CONFLICT_RETRIES - 1:
                    raise
                # Not for security: spreads out writers that collided on the job item.
                time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311


def _status_values(status: ShardStatus) -> dict[str, str]:
    return {f":{status.value}": status.value}
