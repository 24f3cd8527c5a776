"""Token jobs: minting users' tokens in batches, and where the shards that hold them live."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

# One SQS message and one S3 shard per batch; shard n holds users [n*SHARD_SIZE, (n+1)*SHARD_SIZE).
# Shards are numbered by absolute user index, so a School finds the shards of its koi ranges
# without knowing which job wrote them.
SHARD_SIZE = 100
# One job mints at most this many users' tokens (100,000 batches) unless KOIPOND_TOKEN_MAX_USERS_PER_JOB says less.
MAX_USERS_PER_JOB = 10_000_000
# User ids are ``U`` and eight digits (koipond.workspace.user_id), so indexes stay below 10**8.
MAX_USER_INDEX = 100_000_000
# The Keeper's (and the target's) workspace pattern.
WORKSPACE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
# Receives before a batch lands in the dead-letter queue, unless the queue's redrive policy says
# otherwise (the worker reads it from the queue); the pond and the CDK app provision this many.
DEFAULT_MAX_RECEIVE_COUNT = 5


class TokenJobStatus(StrEnum):
    PLANNING = "planning"  # the worker is still putting the job's batches on the queue (some may be done)
    RUNNING = "running"  # every batch is queued; some are still queued or retrying
    DONE = "done"  # every batch minted and stored
    # Some batches, or the plan step, are in the dead-letter queue (redrive them); or queueing the plan
    # failed when the job was made (its last_error says so; nothing was queued: make a new job).
    FAILED = "failed"


class TokenJob(BaseModel):
    """Progress of minting tokens for users ``[start, end)`` of a workspace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    workspace: str
    target: str = Field(description="Base URL of the service that mints tokens (its mint endpoint).")
    start: int = Field(ge=0)
    end: int = Field(gt=0)
    batches_total: int = Field(ge=0)
    batches_queued: int = Field(default=0, ge=0, description="Batches the worker has put on the queue so far.")
    batches_done: int = Field(default=0, ge=0)
    batches_failed: int = Field(default=0, ge=0)
    created_at: datetime
    created_by: str
    expires_at: datetime | None = Field(default=None, description="When the minted tokens expire.")
    last_error: str | None = None
    renews: str | None = Field(default=None, description="The job whose expiring tokens this one replaces.")
    renewed_by: str | None = Field(default=None, description="The job that replaced this one's tokens.")
    plan_failed: bool = Field(default=False, description="Queueing the job's batches stopped; see last_error.")

    @property
    def status(self) -> TokenJobStatus:
        if self.batches_done >= self.batches_total:
            return TokenJobStatus.DONE
        if self.plan_failed:
            return TokenJobStatus.FAILED
        if self.batches_failed and self.batches_done + self.batches_failed >= self.batches_total:
            return TokenJobStatus.FAILED
        if self.batches_queued < self.batches_total:
            return TokenJobStatus.PLANNING
        return TokenJobStatus.RUNNING

    @property
    def finished(self) -> bool:
        """Done or failed: nothing more happens without a redrive (a running cap counts only unfinished jobs)."""
        return self.status in (TokenJobStatus.DONE, TokenJobStatus.FAILED)

    def shards(self) -> range:
        """Shard numbers of the job's batches, in the order its plan queues them."""
        return shards_covering(self.start, self.end)


class ShardDocument(BaseModel):
    """One S3 object ``tokens/{workspace}/{shard:06d}.json`` (SSE-KMS): tokens of SHARD_SIZE users."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workspace: str
    shard: int = Field(ge=0)
    tokens: dict[int, str]
    minted_at: datetime
    expires_at: datetime | None = None
    job_id: str


def shard_key(workspace: str, shard: int) -> str:
    return f"tokens/{workspace}/{shard:06d}.json"


def shards_covering(start: int, end: int) -> range:
    """Shard numbers holding users ``[start, end)``."""
    if end <= start:
        return range(0)
    return range(start // SHARD_SIZE, (end - 1) // SHARD_SIZE + 1)


class ShardStatus(StrEnum):
    PENDING = "pending"  # queued or retrying (a batch without a shard item is pending too)
    DONE = "done"  # minted and stored; counted in the job's batches_done
    FAILED = "failed"  # in the dead-letter queue; counted in the job's batches_failed


class ShardProgress(BaseModel):
    """How one batch of a job is doing; never holds a token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    shard: int = Field(ge=0)
    status: ShardStatus = ShardStatus.PENDING
    attempts: int = Field(default=0, ge=0, description="Failed attempts so far.")
    last_error: str | None = None
    updated_at: datetime | None = None


class ShardMessage(BaseModel):
    """The body of one SQS message: mint users ``[start, end)`` into shard ``shard`` for job ``job_id``.

    The enqueuer always sends whole shards, ``[shard*SHARD_SIZE, (shard+1)*SHARD_SIZE)``, even when the
    job's range starts or ends inside one: a shard object is written whole, so two jobs over
    neighbouring ranges never overwrite each other's users with a partial shard.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(min_length=1, max_length=64)
    workspace: str = Field(pattern=WORKSPACE_PATTERN)
    target: str = Field(min_length=1, max_length=2048)
    shard: int = Field(ge=0, lt=MAX_USER_INDEX // SHARD_SIZE)
    start: int = Field(ge=0)
    end: int = Field(gt=0)

    @model_validator(mode="after")
    def _inside_the_shard(self) -> Self:
        first = self.shard * SHARD_SIZE
        if not first <= self.start < self.end <= first + SHARD_SIZE:
            raise ValueError(f"users [{self.start}, {self.end}) are not a non-empty part of shard {self.shard}")
        return self

    @classmethod
    def whole_shard(cls, job_id: str, workspace: str, target: str, shard: int) -> ShardMessage:
        return cls(
            job_id=job_id,
            workspace=workspace,
            target=target,
            shard=shard,
            start=shard * SHARD_SIZE,
            end=(shard + 1) * SHARD_SIZE,
        )

    def users(self) -> range:
        return range(self.start, self.end)


class PlanMessage(BaseModel):
    """The body of one step of a job's plan: queue the job's batches from ``queued`` on, a bounded number.

    The Keeper sends the first step (``queued`` 0) and nothing else; each step queues its batches,
    moves the job's cursor from ``queued`` on (a conditional write) and sends the next step.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["plan"] = "plan"
    job_id: str = Field(min_length=1, max_length=64)
    queued: int = Field(ge=0, description="The job's cursor when this step was sent: batches queued before it.")


TokenQueueMessage = ShardMessage | PlanMessage
# Both models forbid unknown fields, so a body is exactly one of them.
_QUEUE_MESSAGE: TypeAdapter[TokenQueueMessage] = TypeAdapter(TokenQueueMessage)


def parse_queue_message(body: str) -> TokenQueueMessage | None:
    """A token queue message's body as a batch or a plan step; None when it is neither."""
    try:
        return _QUEUE_MESSAGE.validate_json(body)
    except ValidationError:
        return None


class DlqSample(BaseModel):
    """One batch peeked in the dead-letter queue (fields are None when its body is not a batch)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str
    job_id: str | None
    workspace: str | None
    shard: int | None
    attempts: int = Field(description="Failed attempts recorded for the batch.")
    last_error: str | None


class DlqSummary(BaseModel):
    """The dead-letter queue at a glance: its depth and a sample of its batches, never their tokens."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    depth: int = Field(ge=0, description="ApproximateNumberOfMessages of the dead-letter queue.")
    in_flight: int = Field(default=0, ge=0, description="ApproximateNumberOfMessagesNotVisible (being moved).")
    sample: list[DlqSample]


class RedriveResult(BaseModel):
    """What a redrive did: an SQS message move task, or (where SQS lacks it) a receive-send-delete move."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["message_move_task", "receive_send_delete"]
    task_handle: str | None = Field(default=None, description="StartMessageMoveTask's handle (move task only).")
    approximate_messages: int = Field(ge=0, description="Depth of the dead-letter queue when the redrive began.")
    moved: int | None = Field(
        default=None, ge=0, description="Messages moved (receive-send-delete only; a move task runs on its own)."
    )
    shards_reset: int = Field(default=0, ge=0, description="Failed batches (and plan steps) put back to pending.")
    remaining: int | None = Field(default=None, ge=0, description="Left in the dead-letter queue afterwards.")
    requested_by: str
